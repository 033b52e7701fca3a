#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv and installs, in the order
# the compiled extensions need:
#   1. torch (CPU build; TORCH_SPEC overrides, e.g. TORCH_SPEC="torch==2.13.0" or a CUDA build),
#   2. torch-geometric,
#   3. torch-scatter and torch-sparse with --no-build-isolation (they compile against the torch
#      installed in step 1; PIP_FIND_LINKS pointing at prebuilt wheels skips the ~15 min compile),
#   4. pyg-lib, an optional accelerator (PyG's fast neighbour sampler; METIS and the operators of
#      torch_geometric.distributed), when a wheel for this torch is reachable through
#      PIP_FIND_LINKS; without one the project works as well, with torch-sparse's sampler,
#   5. this package in editable mode with its extras (test, plot).
# It is idempotent: a stamp file records the inputs, and a second run with the same inputs is a no-op.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-$root/.venv}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"

# Prebuilt torch-scatter / torch-sparse / pyg-lib wheels beside the checkout (../shared/wheels) are
# added to whatever PIP_FIND_LINKS already holds (pip reads it as a space-separated list).
shared_wheels="$(cd "$root/.." && pwd)/shared/wheels"
if [ -d "$shared_wheels" ] && [[ " ${PIP_FIND_LINKS:-} " != *" $shared_wheels "* ]]; then
  export PIP_FIND_LINKS="${PIP_FIND_LINKS:+$PIP_FIND_LINKS }$shared_wheels"
fi

stamp="$VENV/.neuncut-installed"
want="$(printf '%s\n' "$TORCH_SPEC" "$(sha256sum pyproject.toml | cut -c1-16)")"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[bootstrap] creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
fi
py="$VENV/bin/python"
# pip warns about every configured index folder that lacks a package; keep its real messages only.
pip() { "$py" -m pip --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

echo "[bootstrap] 1/5 $TORCH_SPEC"
pip install -q "$TORCH_SPEC"
echo "[bootstrap] 2/5 torch-geometric"
pip install -q "torch-geometric>=2.5"
echo "[bootstrap] 3/5 torch-scatter, torch-sparse (--no-build-isolation; compiles unless PIP_FIND_LINKS has wheels)"
pip install -q --no-build-isolation torch-scatter torch-sparse
echo "[bootstrap] 4/5 pyg-lib (optional: installed only from a prebuilt wheel for this torch)"
# pyg-lib is not on PyPI: PyG publishes it on its own wheel index (data.pyg.org). A wheel built
# for another torch installs but does not load, so the import is checked and a broken one removed.
if pip install -q --no-deps --only-binary=:all: pyg-lib 2>/dev/null \
    && "$py" -c "import pyg_lib" 2>/dev/null; then
  echo "[bootstrap]     pyg-lib $("$py" -c 'import pyg_lib; print(pyg_lib.__version__)') installed"
else
  pip uninstall -q -y pyg-lib 2>/dev/null || true
  echo "[bootstrap]     no pyg-lib wheel for this torch: NeighborLoader samples with torch-sparse (see README)"
fi
echo "[bootstrap] 5/5 neuncut-pyg[test,plot] (editable)"
pip install -q -e ".[test,plot]"

printf '%s' "$want" >"$stamp"
echo "[bootstrap] done: $("$py" -c 'import torch, torch_geometric; print("torch", torch.__version__, "| torch_geometric", torch_geometric.__version__)')"
