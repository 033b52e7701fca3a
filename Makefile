# Two commands do everything on a fresh machine (Python 3.11, no torch):
#   make cora   - trains NeuNcut on Cora next to spectral clustering (examples/cora.py)
#   make test   - the test suite (what CI runs)
# Both create .venv first (scripts/bootstrap.sh): CPU torch, torch-geometric, torch-scatter and
# torch-sparse (--no-build-isolation), then this package with its [test,plot] extras.
PY := .venv/bin/python
ARGS ?=

.PHONY: venv test test-all cora bench clean

venv:
	@bash scripts/bootstrap.sh

test: venv
	$(PY) -m pytest -q $(ARGS)

test-all: venv
	$(PY) -m pytest -q --runslow $(ARGS)

cora: venv
	$(PY) examples/cora.py $(ARGS)

bench: venv
	$(PY) benchmarks/loss_cost.py $(ARGS)

clean:
	rm -rf .venv .pytest_cache build *.egg-info
