"""Shared fixtures: small graphs made on the fly (used by tests in several folders), and a
writable copy of the Planetoid raw files."""
from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import stochastic_blockmodel_graph

from neuncut_pyg.generators import planted_partition_graph

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


def missing_planetoid_files(name: str) -> list:
    """The raw files of Planetoid ``name`` (``"Cora"``, ``"CiteSeer"``) absent from SHARED_PLANETOID."""
    from neuncut_pyg.data import planetoid_raw_file_names

    raw = SHARED_PLANETOID / name / "raw"
    return [file for file in planetoid_raw_file_names(name) if not (raw / file).is_file()]


def skip_without_planetoid(name: str) -> None:
    """Skips the calling test, naming the missing files and where to put them, unless every raw
    file of Planetoid ``name`` is there."""
    missing = missing_planetoid_files(name)
    if missing:
        pytest.skip(f"Planetoid {name} raw files missing: {', '.join(missing)}. Put them in "
                    f"{SHARED_PLANETOID / name / 'raw'} (PyG's Planetoid raw files), or set "
                    f"NEUNCUT_SHARED_PLANETOID to a directory holding {name}/raw/ with them")


@pytest.fixture(scope="session")
def planetoid_root(tmp_path_factory) -> Path:
    """A writable data root holding ``Planetoid/{Cora,CiteSeer}/raw`` copied from shared/ (the
    test is skipped, with the missing files named, when Cora's are not all there; tests of
    CiteSeer call ``skip_without_planetoid("CiteSeer")`` too).

    PyG writes ``processed/`` beside ``raw/``, and shared/ is read-only, hence the copy.
    """
    skip_without_planetoid("Cora")
    root = tmp_path_factory.mktemp("data")
    for name in ("Cora", "CiteSeer"):
        src = SHARED_PLANETOID / name / "raw"
        if src.is_dir():
            shutil.copytree(src, root / "Planetoid" / name / "raw")
    return root


@pytest.fixture(scope="session")
def cora_default_fit(planetoid_root):
    """``(data, model)``: NeuNcut with every default on Cora, seed 0 (three runs of 300 epochs
    from the spectral start: about 25 s on 2 idle cores), fitted once per session, on one torch
    thread, for the tests of the README's numbers and of the core runs."""
    from neuncut_pyg import NeuNcut, load_planetoid

    data = load_planetoid("Cora", planetoid_root)
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as one_torch_thread: a busy machine's thread pool costs more than it gives
    try:
        model = NeuNcut(data.num_features, int(data.y.max()) + 1).fit(data, seed=0, progress=False)
    finally:
        torch.set_num_threads(before)
    return data, model


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


def free_port() -> int:
    """A TCP port free on localhost now, for a test's own process group or RPC."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_ranks(worker, args: tuple, out: Path, world: int, deadline_s: float) -> list:
    """Spawns ``world`` processes running ``worker(rank, *args)``, which each save their results
    to ``out/rank<r>.pt``, and returns those; fails the test if they do not finish within
    ``deadline_s`` (a collective or RPC hung), killing only the processes it started."""
    import torch.multiprocessing as mp

    context = mp.start_processes(worker, args=args, nprocs=world, join=False, start_method="spawn")
    deadline = time.monotonic() + deadline_s
    try:
        while not context.join(timeout=5):
            if time.monotonic() > deadline:
                pytest.fail(f"the {world} ranks did not finish within {deadline_s} s (a collective or RPC hung?)")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
                process.join(5)
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(world)]


def load_script(folder: str, name: str):
    """Imports ``<folder>/<name>.py`` (an example or a benchmark) as a module, so tests can call
    its functions directly. The folder goes on ``sys.path`` first, as when the script is run, so
    that its own imports of sibling modules (``benchmarks/harness.py``) resolve."""
    if str(REPO / folder) not in sys.path:
        sys.path.insert(0, str(REPO / folder))
    spec = importlib.util.spec_from_file_location(f"{name}_{folder}", REPO / folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_example(name: str):
    """Imports ``examples/<name>.py`` as a module."""
    return load_script("examples", name)


def load_benchmark(name: str):
    """Imports ``benchmarks/<name>.py`` as a module."""
    return load_script("benchmarks", name)


# ------------------------------------------------------------------------------------------------
# Small planted graphs shared by the tests of several modules (module scope: a test that changes
# one changes it for its own module only).
# ------------------------------------------------------------------------------------------------
def planted_partition(num_blocks: int = 3, block_size: int = 40, num_features: int = 8, seed: int = 0) -> Data:
    """A stochastic block model graph (p_in 0.25, p_out 0.02) whose features are noisy
    block-dependent Gaussians; draws from (and reseeds) the global RNG."""
    torch.manual_seed(seed)
    probs = torch.full((num_blocks, num_blocks), 0.02)
    probs.fill_diagonal_(0.25)
    edge_index = stochastic_blockmodel_graph([block_size] * num_blocks, probs)
    y = torch.arange(num_blocks).repeat_interleave(block_size)
    means = 2.0 * torch.randn(num_blocks, num_features)
    x = means[y] + torch.randn(y.numel(), num_features)
    return Data(x=x, edge_index=edge_index, y=y)


@pytest.fixture(scope="module")
def three_blocks() -> Data:
    """3 blocks of 40 nodes, 8 features: the full-batch estimator tests' graph."""
    return planted_partition()


@pytest.fixture(scope="module")
def four_blocks() -> Data:
    """4 blocks of 60 nodes (p_in 0.2, p_out 0.02), 8 features: the mini-batch tests' graph."""
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    probs = torch.full((4, 4), 0.02)
    probs.fill_diagonal_(0.2)
    edge_index = stochastic_blockmodel_graph([60] * 4, probs)
    y = torch.arange(4).repeat_interleave(60)
    means = 2.0 * torch.randn(4, 8, generator=generator)
    x = means[y] + torch.randn(y.numel(), 8, generator=generator)
    return Data(x=x, edge_index=edge_index, y=y)


@pytest.fixture(scope="module")
def four_communities() -> Data:
    """600 nodes in 4 communities, 16 noisy features: the MLP input tests' graph."""
    return planted_partition_graph(600, 4, 12, mixing=0.3, num_features=16, feature_noise=2.0, seed=3)


@pytest.fixture(scope="module")
def six_communities() -> Data:
    """1200 nodes in 6 communities. Noisy features (alone they give little) on a clear graph:
    smoothing is what recovers the communities, so the depth matters (the start's tests)."""
    return planted_partition_graph(1200, 6, 12.0, mixing=0.3, num_features=32, feature_noise=3.0, seed=3)
