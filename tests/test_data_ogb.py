"""OGB node-property datasets: tiny graphs written in OGB's on-disk layout, clean failures without them.

OGB only accepts the names in its master.csv, so the tiny graphs are written under real names
(``ogbn-arxiv``, ``ogbn-products``, ``ogbn-papers100M``), each in the layout OGB reads for that
name. No test touches the network: OGB's download client is made to fail at once.
"""
from __future__ import annotations

import builtins
import time
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ogb.nodeproppred.dataset_pyg as ogb_dataset_pyg
import ogb.utils.url as ogb_url
import pytest
import torch
from torch_geometric.utils import index_to_mask, is_undirected

import neuncut_pyg.data as data_module
from neuncut_pyg.data import (
    DatasetNotFoundError,
    load_dataset,
    load_ogb_node,
    ogb_node_file_names,
    ogb_node_names,
)

ARXIV_FILES = [
    "raw/edge.csv.gz",
    "raw/num-node-list.csv.gz",
    "raw/num-edge-list.csv.gz",
    "raw/node-feat.csv.gz",
    "raw/node-label.csv.gz",
    "raw/node_year.csv.gz",
    "split/time/train.csv.gz",
    "split/time/valid.csv.gz",
    "split/time/test.csv.gz",
]
# Port 9 (discard) on the loopback refuses connections at once: a download that fails fast anywhere.
UNREACHABLE_URL = "http://127.0.0.1:9/ogb/arxiv.zip"


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture(autouse=True)
def no_ogb_download(monkeypatch):
    """OGB opens its download URL with ``urllib.request.urlopen``: make that fail at once."""

    def refuse(url, *args, **kwargs):
        raise urllib.error.URLError(f"the tests do not download ({url})")

    monkeypatch.setattr(ogb_url.ur, "urlopen", refuse)


# ---------------------------------------------------------------------------------------------
# Tiny graphs in OGB's layout
# ---------------------------------------------------------------------------------------------


@dataclass
class TinyGraph:
    edges: np.ndarray  # [2, E] directed, no self-loops, no pair stored in both directions
    x: np.ndarray  # [N, F] float32, exactly representable in the csv
    y: np.ndarray  # [N] in {0, 1, 2}
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]

    def undirected_pairs(self) -> set[tuple[int, int]]:
        return {(int(u), int(v)) for u, v in self.edges.T} | {(int(v), int(u)) for u, v in self.edges.T}


def make_tiny_graph(num_nodes: int = 30, num_edges: int = 60, seed: int = 0) -> TinyGraph:
    rng = np.random.default_rng(seed)
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < num_edges:
        u, v = (int(i) for i in rng.integers(0, num_nodes, size=2))
        if u != v and (v, u) not in pairs:
            pairs.add((u, v))
    order = rng.permutation(num_nodes)
    return TinyGraph(
        edges=np.array(sorted(pairs)).T,
        x=(rng.integers(-8, 8, size=(num_nodes, 4)) / 4).astype(np.float32),
        y=rng.integers(0, 3, size=num_nodes),
        train=np.sort(order[:18]),
        valid=np.sort(order[18:24]),
        test=np.sort(order[24:]),
    )


def write_csv_gz(path: Path, rows: np.ndarray, fmt: str = "%d") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, rows, fmt=fmt, delimiter=",")  # a .gz name makes numpy gzip it


def write_splits(dataset_dir: Path, graph: TinyGraph, split_type: str) -> None:
    for part in ("train", "valid", "test"):
        write_csv_gz(dataset_dir / "split" / split_type / f"{part}.csv.gz", getattr(graph, part))


def write_csv_layout(dataset_dir: Path, graph: TinyGraph, split_type: str, with_year: bool) -> None:
    """What OGB's arxiv.zip / products.zip hold: raw/*.csv.gz, split/<type>/*.csv.gz, RELEASE_v1.txt."""
    raw = dataset_dir / "raw"
    write_csv_gz(raw / "edge.csv.gz", graph.edges.T)
    write_csv_gz(raw / "num-node-list.csv.gz", np.array([graph.num_nodes]))
    write_csv_gz(raw / "num-edge-list.csv.gz", np.array([graph.edges.shape[1]]))
    write_csv_gz(raw / "node-feat.csv.gz", graph.x, fmt="%.2f")
    write_csv_gz(raw / "node-label.csv.gz", graph.y)
    if with_year:
        write_csv_gz(raw / "node_year.csv.gz", 2000 + np.arange(graph.num_nodes))
    write_splits(dataset_dir, graph, split_type)
    (dataset_dir / "RELEASE_v1.txt").write_text("tiny test graph\n")


@pytest.fixture
def arxiv_root(tmp_path) -> tuple[Path, TinyGraph]:
    graph = make_tiny_graph()
    write_csv_layout(tmp_path / "ogbn_arxiv", graph, "time", with_year=True)
    return tmp_path, graph


def assert_matches(data, graph: TinyGraph) -> None:
    n = graph.num_nodes
    assert data.num_nodes == n
    columns = [tuple(c) for c in data.edge_index.t().tolist()]
    assert len(columns) == len(set(columns)), "duplicate edges"
    assert set(columns) == graph.undirected_pairs()
    assert is_undirected(data.edge_index, num_nodes=n)
    assert data.x.shape == (n, 4) and data.x.dtype == torch.float32
    assert torch.equal(data.x, torch.from_numpy(graph.x))
    assert data.y.shape == (n,) and data.y.dtype == torch.long
    assert torch.equal(data.y, torch.from_numpy(graph.y).long())
    for mask_name, part in (("train_mask", "train"), ("val_mask", "valid"), ("test_mask", "test")):
        mask = data[mask_name]
        assert mask.dtype == torch.bool
        assert torch.equal(mask, index_to_mask(torch.from_numpy(getattr(graph, part)), size=n))


# ---------------------------------------------------------------------------------------------
# Names and layout
# ---------------------------------------------------------------------------------------------


def test_supported_names_and_file_layout():
    assert ogb_node_names() == ["ogbn-products", "ogbn-arxiv", "ogbn-papers100M"]
    assert ogb_node_file_names("ogbn-arxiv") == ARXIV_FILES
    assert ogb_node_file_names("OGBN-Products") == [f for f in ARXIV_FILES if "node_year" not in f and "split" not in f] + [
        f"split/sales_ranking/{part}.csv.gz" for part in ("train", "valid", "test")
    ]
    assert ogb_node_file_names("ogbn-papers100m") == ["raw/data.npz", "raw/node-label.npz"] + ARXIV_FILES[-3:]


def test_unknown_and_unsupported_names_raise():
    with pytest.raises(ValueError, match=r"unknown OGB node-property dataset 'ogbn-foo'.*ogbn-arxiv"):
        load_ogb_node("ogbn-foo")
    with pytest.raises(ValueError, match="ogbn-mag is not supported.*heterogeneous"):
        load_ogb_node("ogbn-mag")
    with pytest.raises(ValueError, match="ogbn-proteins is not supported.*112 task"):
        ogb_node_file_names("ogbn-proteins")
    with pytest.raises(ValueError, match="unknown OGB"):
        load_ogb_node(None)  # type: ignore[arg-type]


def test_load_dataset_dispatch(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(data_module, "load_planetoid", lambda *args, **kwargs: calls.append((args, kwargs)) or "cora")
    assert load_dataset("Cora", tmp_path, download=False) == "cora"
    assert calls == [(("Cora", tmp_path), {"download": False})]
    with pytest.raises(ValueError, match=r"unknown dataset 'reddit'.*'cora'.*'ogbn-arxiv'"):
        load_dataset("reddit")
    with pytest.raises(ValueError, match="ogbn-mag is not supported"):
        load_dataset("ogbn-mag")
    with pytest.raises(TypeError, match="name must be a str"):
        load_dataset(3)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Loading from files in place
# ---------------------------------------------------------------------------------------------


def test_load_arxiv_symmetrizes_and_masks(arxiv_root, monkeypatch):
    root, graph = arxiv_root
    monkeypatch.setattr(data_module, "_host_unreachable", pytest.fail)  # files in place: no network probe
    allowed_before = set(map(id, torch.serialization.get_safe_globals()))
    data = load_ogb_node("ogbn-arxiv", root, download=True)
    assert_matches(data, graph)
    assert set(map(id, torch.serialization.get_safe_globals())) == allowed_before  # PyG's own allowances kept
    assert data.edge_index.size(1) == 2 * graph.edges.shape[1]
    processed = root / "ogbn_arxiv" / "processed" / "geometric_data_processed.pt"
    assert processed.is_file()
    stamp = processed.stat().st_mtime_ns
    # Case-insensitive, through load_dataset, and the second load reads the processed file.
    again = load_dataset("OGBN-ARXIV", str(root), download=False)
    assert processed.stat().st_mtime_ns == stamp
    assert torch.equal(again.edge_index, data.edge_index) and torch.equal(again.y, data.y)


def test_load_products_deduplicates_inverse_edges(tmp_path):
    # OGB stores products' edges once and adds the inverse edges itself; to_undirected must not double them.
    graph = make_tiny_graph(seed=1)
    write_csv_layout(tmp_path / "ogbn_products", graph, "sales_ranking", with_year=False)
    data = load_ogb_node("ogbn-products", tmp_path, download=False)
    assert_matches(data, graph)


def test_load_papers100m_binary_layout_keeps_unlabelled_as_minus_one(tmp_path):
    graph = make_tiny_graph(seed=2)
    dataset_dir = tmp_path / "ogbn_papers100M"
    (dataset_dir / "raw").mkdir(parents=True)
    np.savez(
        dataset_dir / "raw" / "data.npz",
        edge_index=graph.edges.astype(np.int64),
        num_nodes_list=np.array([graph.num_nodes]),
        num_edges_list=np.array([graph.edges.shape[1]]),
        node_feat=graph.x,
        node_year=(2000 + np.arange(graph.num_nodes)).reshape(-1, 1),
    )
    labelled = np.concatenate([graph.train, graph.valid, graph.test])[::2]  # the rest unlabelled
    label = np.full((graph.num_nodes, 1), np.nan, dtype=np.float32)
    label[labelled, 0] = graph.y[labelled]
    np.savez(dataset_dir / "raw" / "node-label.npz", node_label=label)
    write_splits(dataset_dir, graph, "time")
    (dataset_dir / "RELEASE_v1.txt").write_text("tiny test graph\n")

    data = load_ogb_node("ogbn-papers100M", tmp_path, download=False)
    expected_y = torch.full((graph.num_nodes,), -1, dtype=torch.long)
    expected_y[labelled] = torch.from_numpy(graph.y[labelled]).long()
    assert data.y.dtype == torch.long and torch.equal(data.y, expected_y)
    columns = {tuple(c) for c in data.edge_index.t().tolist()}
    assert columns == graph.undirected_pairs() and data.edge_index.size(1) == len(columns)
    assert torch.equal(data.val_mask, index_to_mask(torch.from_numpy(graph.valid), size=graph.num_nodes))


@pytest.mark.timeout(60)
def test_missing_release_file_does_not_prompt(arxiv_root, monkeypatch):
    # OGB asks on stdin whether to delete and re-download a directory without RELEASE_v1.txt.
    root, graph = arxiv_root
    (root / "ogbn_arxiv" / "RELEASE_v1.txt").unlink()
    monkeypatch.setattr(builtins, "input", lambda *args: pytest.fail("waited for input"))
    with pytest.warns(UserWarning, match="answered 'n'"):
        data = load_ogb_node("ogbn-arxiv", root)
    assert_matches(data, graph)
    assert all((root / "ogbn_arxiv" / file).is_file() for file in ARXIV_FILES)  # kept, not deleted
    assert "input" not in vars(ogb_dataset_pyg) and "input" not in vars(ogb_url)  # the stand-ins are gone


def test_split_outside_graph_raises(arxiv_root):
    root, graph = arxiv_root
    write_csv_gz(root / "ogbn_arxiv" / "split" / "time" / "test.csv.gz", np.array([0, graph.num_nodes]))
    with pytest.raises(RuntimeError, match=r"test split holds node indices outside \[0, 30\)"):
        load_ogb_node("ogbn-arxiv", root, download=False)


def test_corrupt_files_leave_no_processed_directory(arxiv_root):
    root, _ = arxiv_root
    edge_file = root / "ogbn_arxiv" / "raw" / "edge.csv.gz"
    edge_file.write_bytes(b"not gzip")
    before = listing(root)
    with pytest.raises(RuntimeError, match="could not process the ogbn-arxiv files") as info:
        load_ogb_node("ogbn-arxiv", root, download=False)
    assert str(root / "ogbn_arxiv") in str(info.value)
    assert listing(root) == before  # the user's files stay, nothing else is left
    assert edge_file.read_bytes() == b"not gzip"


# ---------------------------------------------------------------------------------------------
# Missing files
# ---------------------------------------------------------------------------------------------


def assert_names_files_and_directory(err: DatasetNotFoundError, dataset_dir: Path, files=ARXIV_FILES) -> None:
    message = str(err)
    assert "ogbn-arxiv" in message
    assert str(dataset_dir.absolute()) in message
    for file in files:
        assert f"  {file}\n" in message
    assert "download" in message.lower() and "arxiv.zip" in message


def test_missing_dataset_without_download(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_ogb_node("ogbn-arxiv", tmp_path, download=False)
    assert isinstance(info.value, FileNotFoundError)
    assert "9 file(s) missing" in str(info.value)
    assert_names_files_and_directory(info.value, tmp_path / "ogbn_arxiv")
    assert listing(tmp_path) == []


def test_partially_present_files_name_only_the_missing_ones(arxiv_root):
    root, _ = arxiv_root
    for file in ARXIV_FILES[5:]:
        (root / "ogbn_arxiv" / file).unlink()
    before = listing(root)
    with pytest.raises(DatasetNotFoundError, match="4 file") as info:
        load_ogb_node("ogbn-arxiv", root, download=False)
    assert_names_files_and_directory(info.value, root / "ogbn_arxiv", ARXIV_FILES[5:])
    assert "raw/edge.csv.gz" not in str(info.value)
    assert listing(root) == before


def test_binary_dataset_message_names_the_npz_arrays(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="edge_index, num_nodes_list, num_edges_list, node_feat, node_year"):
        load_ogb_node("ogbn-papers100M", tmp_path, download=False)


@pytest.mark.timeout(60)
def test_missing_dataset_with_unreachable_host_fails_fast(tmp_path, monkeypatch):
    master = {name: dict(meta) for name, meta in data_module._ogb_node_master().items()}
    master["ogbn-arxiv"]["url"] = UNREACHABLE_URL
    monkeypatch.setattr(data_module, "_ogb_node_master", lambda: master)
    start = time.perf_counter()
    with pytest.raises(DatasetNotFoundError, match="cannot reach 127.0.0.1:9") as info:
        load_ogb_node("ogbn-arxiv", tmp_path, download=True)
    assert time.perf_counter() - start < 30
    assert_names_files_and_directory(info.value, tmp_path / "ogbn_arxiv")
    assert listing(tmp_path) == []


@pytest.mark.timeout(60)
def test_failed_ogb_download_is_rolled_back(tmp_path, monkeypatch):
    # Let OGB itself attempt the download (the reachability check passes) and fail.
    monkeypatch.setattr(data_module, "_host_unreachable", lambda url: None)
    with pytest.raises(DatasetNotFoundError, match="download or processing failed") as info:
        load_ogb_node("ogbn-arxiv", tmp_path / "root", download=True)
    assert "the tests do not download" in str(info.value)
    assert_names_files_and_directory(info.value, tmp_path / "root" / "ogbn_arxiv")
    assert listing(tmp_path) == []  # not even the directories PyG made on its way


@pytest.mark.timeout(60)
def test_failed_ogb_download_keeps_the_users_files(tmp_path, monkeypatch):
    monkeypatch.setattr(data_module, "_host_unreachable", lambda url: None)
    placed = tmp_path / "ogbn_arxiv" / "raw" / "node-label.csv.gz"
    write_csv_gz(placed, np.zeros(30, dtype=np.int64))
    with pytest.raises(DatasetNotFoundError, match="8 file"), pytest.warns(UserWarning, match="answered 'n'"):
        load_ogb_node("ogbn-arxiv", tmp_path, download=True)
    assert listing(tmp_path) == ["ogbn_arxiv", "ogbn_arxiv/raw", "ogbn_arxiv/raw/node-label.csv.gz"]


@pytest.mark.timeout(60)
def test_missing_dataset_with_download_here(tmp_path):
    """The real download URL: on a machine without network this must fail cleanly and quickly."""
    url = data_module._ogb_node_master()["ogbn-arxiv"]["url"]
    if data_module._host_unreachable(url) is None:
        pytest.skip("the OGB download host is reachable: this machine would download ogbn-arxiv")
    with pytest.raises(DatasetNotFoundError, match="download failed") as info:
        load_ogb_node("ogbn-arxiv", tmp_path, download=True)
    assert_names_files_and_directory(info.value, tmp_path / "ogbn_arxiv")
    assert listing(tmp_path) == []
