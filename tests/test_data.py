"""Dataset loading: the data root, Planetoid from local raw files, and clean failures without them."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from torch_geometric.datasets import Planetoid
from torch_geometric.utils import is_undirected

import neuncut_pyg.data as data_module
from neuncut_pyg.data import (
    DATA_ROOT_ENV,
    DatasetNotFoundError,
    load_planetoid,
    planetoid_raw_file_names,
    resolve_root,
)

CORA_FILES = [f"ind.cora.{s}" for s in ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")]
# Port 9 (discard) on the loopback refuses connections at once: a download that fails fast anywhere.
UNREACHABLE_URL = "https://127.0.0.1:9/planetoid"


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ---------------------------------------------------------------------------------------------
# resolve_root
# ---------------------------------------------------------------------------------------------


def test_resolve_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    assert resolve_root() == Path("datasets")
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "from_env"))
    assert resolve_root() == tmp_path / "from_env"
    assert resolve_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_root(str(tmp_path)) == tmp_path
    monkeypatch.setenv(DATA_ROOT_ENV, "")  # set but empty counts as unset
    assert resolve_root() == Path("datasets")
    assert resolve_root("~/data") == Path.home() / "data"


def test_load_planetoid_uses_env_root(monkeypatch, planetoid_root):
    monkeypatch.setenv(DATA_ROOT_ENV, str(planetoid_root))
    assert load_planetoid("cora", download=False).num_nodes == 2708


# ---------------------------------------------------------------------------------------------
# Loading from raw files
# ---------------------------------------------------------------------------------------------


def test_load_cora(planetoid_root):
    data = load_planetoid("Cora", planetoid_root, download=False)
    assert data.num_nodes == 2708
    assert data.edge_index.size(1) == 10556
    assert data.x.shape == (2708, 1433)
    assert int(data.y.max()) + 1 == 7
    assert is_undirected(data.edge_index, num_nodes=data.num_nodes)
    assert (planetoid_root / "Planetoid" / "Cora" / "processed" / "data.pt").is_file()
    # Case-insensitive, and the second load reads the processed file.
    again = load_planetoid("CORA", planetoid_root)
    assert torch.equal(again.edge_index, data.edge_index)


def test_load_citeseer(planetoid_root):
    data = load_planetoid("citeseer", str(planetoid_root), download=False)
    assert data.num_nodes == 3327
    assert data.edge_index.size(1) == 9104
    assert data.x.shape == (3327, 3703)
    assert int(data.y.max()) + 1 == 6
    assert is_undirected(data.edge_index, num_nodes=data.num_nodes)


def test_unknown_name_raises():
    with pytest.raises(ValueError, match="unknown Planetoid dataset 'reddit'"):
        load_planetoid("reddit")
    with pytest.raises(ValueError, match="unknown Planetoid dataset"):
        planetoid_raw_file_names("cora ")


def test_raw_file_names():
    assert planetoid_raw_file_names("Cora") == CORA_FILES
    assert planetoid_raw_file_names("pubmed")[-1] == "ind.pubmed.test.index"


# ---------------------------------------------------------------------------------------------
# Missing files
# ---------------------------------------------------------------------------------------------


def assert_names_files_and_directory(err: DatasetNotFoundError, raw_dir: Path) -> None:
    message = str(err)
    assert str(raw_dir) in message
    for file in CORA_FILES:
        assert file in message
    assert "download" in message.lower()


def test_missing_dataset_without_download(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_planetoid("cora", tmp_path, download=False)
    assert isinstance(info.value, FileNotFoundError)
    assert_names_files_and_directory(info.value, tmp_path / "Planetoid" / "Cora" / "raw")
    assert listing(tmp_path) == []


def test_partially_present_files_name_only_the_missing_ones(tmp_path):
    raw_dir = tmp_path / "Planetoid" / "Cora" / "raw"
    raw_dir.mkdir(parents=True)
    (raw_dir / "ind.cora.x").write_bytes(b"placed by the user")
    with pytest.raises(DatasetNotFoundError, match="7 raw file") as info:
        load_planetoid("cora", tmp_path, download=False)
    assert "ind.cora.x\n" not in str(info.value) and "ind.cora.allx" in str(info.value)
    assert listing(tmp_path) == ["Planetoid", "Planetoid/Cora", "Planetoid/Cora/raw", "Planetoid/Cora/raw/ind.cora.x"]


@pytest.mark.timeout(60)
def test_missing_dataset_with_unreachable_host_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setattr(Planetoid, "url", UNREACHABLE_URL)
    start = time.perf_counter()
    with pytest.raises(DatasetNotFoundError, match="127.0.0.1") as info:
        load_planetoid("cora", tmp_path, download=True)
    assert time.perf_counter() - start < 30
    assert_names_files_and_directory(info.value, tmp_path / "Planetoid" / "Cora" / "raw")
    assert listing(tmp_path) == []


@pytest.mark.timeout(60)
def test_failed_pyg_download_is_rolled_back(tmp_path, monkeypatch):
    # Let PyG itself attempt the download (the reachability check passes) and fail.
    monkeypatch.setattr(Planetoid, "url", UNREACHABLE_URL)
    monkeypatch.setattr(data_module, "_host_unreachable", lambda url: None)
    with pytest.raises(DatasetNotFoundError, match="download or processing failed") as info:
        load_planetoid("cora", tmp_path / "root", download=True)
    assert_names_files_and_directory(info.value, tmp_path / "root" / "Planetoid" / "Cora" / "raw")
    assert listing(tmp_path) == []  # not even the directories PyG made on its way


@pytest.mark.timeout(60)
def test_missing_dataset_with_download_here(tmp_path):
    """The real download URL: on a machine without network this must fail cleanly and quickly."""
    if data_module._host_unreachable(Planetoid.url) is None:
        pytest.skip("the download host is reachable: this machine would download Cora")
    with pytest.raises(DatasetNotFoundError) as info:
        load_planetoid("cora", tmp_path, download=True)
    assert_names_files_and_directory(info.value, tmp_path / "Planetoid" / "Cora" / "raw")
    assert listing(tmp_path) == []


def test_corrupt_raw_files_leave_no_processed_directory(tmp_path):
    raw_dir = tmp_path / "Planetoid" / "Cora" / "raw"
    raw_dir.mkdir(parents=True)
    for file in CORA_FILES:
        (raw_dir / file).write_bytes(b"not a pickle")
    with pytest.raises(RuntimeError, match="could not process") as info:
        load_planetoid("cora", tmp_path, download=False)
    assert str(raw_dir) in str(info.value)
    assert not (raw_dir.parent / "processed").exists()
    assert sorted(p.name for p in raw_dir.iterdir()) == sorted(CORA_FILES)  # the user's files stay
