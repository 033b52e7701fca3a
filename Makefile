# Two commands do everything on a fresh machine (Python 3.11, no torch):
#   make cora   - trains NeuNcut on Cora next to spectral clustering (examples/cora.py)
#   make test   - the test suite (what CI runs)
# Both create .venv first (scripts/bootstrap.sh): CPU torch, torch-geometric, torch-scatter and
# torch-sparse (--no-build-isolation), then this package with its [test,plot] extras.
PY := .venv/bin/python
ARGS ?=

SHARED_PLANETOID := ../shared/datasets/Planetoid

.PHONY: venv data test test-all cora bench clean

venv:
	@bash scripts/bootstrap.sh

test: venv
	$(PY) -m pytest -q $(ARGS)

test-all: venv
	$(PY) -m pytest -q --runslow $(ARGS)

# On the development machines the Planetoid raw files lie in ../shared (read-only); PyG writes
# processed/ beside raw/, so they are copied into the data root. Elsewhere PyG downloads them.
data:
	@if [ ! -d datasets/Planetoid/Cora/raw ] && [ -d $(SHARED_PLANETOID)/Cora/raw ]; then \
		mkdir -p datasets/Planetoid && cp -r $(SHARED_PLANETOID)/. datasets/Planetoid/ && \
		echo "copied $(SHARED_PLANETOID) to datasets/Planetoid"; fi

cora: venv data
	$(PY) examples/cora.py $(ARGS)

bench: venv
	$(PY) benchmarks/loss_cost.py $(ARGS)

clean:
	rm -rf .venv .pytest_cache build *.egg-info
