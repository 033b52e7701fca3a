"""Shared fixtures: small graphs made on the fly, and a writable copy of the Planetoid raw files."""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
# ../shared/datasets/Planetoid beside the checkout (read-only), or NEUNCUT_SHARED_PLANETOID.
SHARED_PLANETOID = Path(os.environ.get("NEUNCUT_SHARED_PLANETOID", REPO.parent / "shared" / "datasets" / "Planetoid"))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def planetoid_root(tmp_path_factory) -> Path:
    """A writable data root holding ``Planetoid/{Cora,CiteSeer}/raw`` copied from shared/.

    PyG writes ``processed/`` beside ``raw/``, and shared/ is read-only, hence the copy.
    """
    if not (SHARED_PLANETOID / "Cora" / "raw").is_dir():
        pytest.skip(f"Planetoid raw files not found at {SHARED_PLANETOID} (set NEUNCUT_SHARED_PLANETOID)")
    root = tmp_path_factory.mktemp("data")
    for name in ("Cora", "CiteSeer"):
        src = SHARED_PLANETOID / name / "raw"
        if src.is_dir():
            shutil.copytree(src, root / "Planetoid" / name / "raw")
    return root


@pytest.fixture
def seed():
    torch.manual_seed(0)
    return 0


@pytest.fixture
def one_torch_thread():
    """Runs a test with one torch thread, restored afterwards. The graphs of these tests are
    tiny: on a busy 2-core machine torch's thread pool made them up to 60x slower (measured:
    1.6 s vs 100 s), and thread start-up costs more than the arithmetic."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def load_example(name: str):
    """Imports ``examples/<name>.py`` as a module, so tests can call its functions directly."""
    path = REPO / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
