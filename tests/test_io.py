"""Tests of neuncut_pyg.io (edge lists, features, labels, atomic writes) and neuncut_pyg.checkpoint."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

import neuncut_pyg
from neuncut_pyg.checkpoint import CHECKPOINT_FILE, CHECKPOINT_FORMAT_VERSION, CheckpointError, load_checkpoint, save_checkpoint
from neuncut_pyg.io import (
    InputError,
    atomic_torch_save,
    atomic_write_csv,
    atomic_write_text,
    read_assignments,
    read_edge_list,
    read_features,
    read_labels,
)
from neuncut_pyg.models import NeuNcut

pytestmark = pytest.mark.usefixtures("one_torch_thread")




def write(path, text):
    path.write_text(text)
    return path


def edges_of(edge_index, edge_weight, ids):
    """{(src_id, dst_id): weight} of a read graph."""
    weights = edge_weight.tolist() if edge_weight is not None else [None] * edge_index.size(1)
    return {(ids[a], ids[b]): w for (a, b), w in zip(edge_index.t().tolist(), weights)}


# ---------------------------------------------------------------------------------------------
# read_edge_list
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a,b\nb,c\n",
        "src,dst\na,b\nb,c\n",
        "source\ttarget\na\tb\nb\tc\n",
        "# comment\na  b\n\nb   c\n",
        "a\tb\nc\tb\nb\ta\n",  # a repeated pair in the other direction is one edge
    ],
)
def test_edge_list_formats_give_the_same_undirected_graph(tmp_path, text):
    edge_index, edge_weight, ids = read_edge_list(write(tmp_path / "g.txt", text))
    assert edge_weight is None
    assert sorted(ids) == ["a", "b", "c"]
    assert set(edges_of(edge_index, None, ids)) == {("a", "b"), ("b", "a"), ("b", "c"), ("c", "b")}
    assert edge_index.dtype == torch.long and edge_index.size(1) == 4


def test_edge_list_ids_in_order_of_appearance_and_weights(tmp_path):
    path = write(tmp_path / "g.csv", "10,2,0.5\n2,7,2\n7,10,1e-1\n")
    edge_index, edge_weight, ids = read_edge_list(path)
    assert ids == ["10", "2", "7"]
    edges = edges_of(edge_index, edge_weight, ids)
    assert edges[("10", "2")] == pytest.approx(0.5) and edges[("2", "10")] == pytest.approx(0.5)
    assert edges[("7", "10")] == pytest.approx(0.1)
    assert edge_weight.dtype == torch.float32


def test_edge_list_header_detected_by_non_numeric_weight(tmp_path):
    _, edge_weight, ids = read_edge_list(write(tmp_path / "g.csv", "person,friend,strength\nx,y,3\n"))
    assert ids == ["x", "y"] and edge_weight.tolist() == [3.0, 3.0]


def test_edge_list_two_string_columns_without_known_names_are_data(tmp_path):
    _, _, ids = read_edge_list(write(tmp_path / "g.csv", "alice,bob\nbob,carol\n"))
    assert ids == ["alice", "bob", "carol"]


def test_edge_list_self_loop_kept_once_and_duplicates_keep_max_weight(tmp_path):
    path = write(tmp_path / "g.csv", "a,a,2\na,b,1\nb,a,3\n")
    edge_index, edge_weight, ids = read_edge_list(path)
    edges = edges_of(edge_index, edge_weight, ids)
    assert edges == {("a", "a"): 2.0, ("a", "b"): 3.0, ("b", "a"): 3.0}


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("a,b\nb,c,1\n", 2, "columns"),
        ("a,b,1\nb,c,x\n", 2, "not a number"),
        ("a,b,1\nb,c,-1\n", 2, "negative"),
        ("a,b,1\n\nb,c,nan\n", 3, "not finite"),
        ("a,b,c,d\n", 1, "columns"),
        ("a,b\n,c\n", 2, "empty node id"),
    ],
)
def test_edge_list_malformed_row_names_file_and_line(tmp_path, text, line, fragment):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(InputError, match=f"line {line}") as info:
        read_edge_list(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_edge_list_missing_empty_and_directory(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_edge_list(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="empty"):
        read_edge_list(write(tmp_path / "empty.csv", "src,dst\n# nothing\n"))
    with pytest.raises(InputError, match="directory"):
        read_edge_list(tmp_path)
    assert issubclass(InputError, ValueError)


# ---------------------------------------------------------------------------------------------
# read_features / read_labels / read_assignments
# ---------------------------------------------------------------------------------------------


def test_features_csv_any_order_with_header(tmp_path):
    path = write(tmp_path / "x.csv", "node,f1,f2\nc,5,6\na,1,2\nb,3,4\n")
    x = read_features(path, ["a", "b", "c"])
    assert x.dtype == torch.float32
    assert x.tolist() == [[1, 2], [3, 4], [5, 6]]


def test_features_npy_rows_in_node_order(tmp_path):
    array = np.arange(6, dtype=np.float64).reshape(3, 2)
    np.save(tmp_path / "x.npy", array)
    assert torch.equal(read_features(tmp_path / "x.npy", ["a", "b", "c"]), torch.from_numpy(array).float())
    with pytest.raises(InputError, match="2 rows but the graph has 3 nodes"):
        np.save(tmp_path / "short.npy", array[:2])
        read_features(tmp_path / "short.npy", ["a", "b", "c"])
    np.save(tmp_path / "flat.npy", array.reshape(-1))
    with pytest.raises(InputError, match="2-D"):
        read_features(tmp_path / "flat.npy", ["a", "b", "c"])


def test_features_unknown_id_names_it_and_line(tmp_path):
    path = write(tmp_path / "x.csv", "a,1\nb,2\nzed,3\n")
    with pytest.raises(InputError, match=r"line 3: unknown node id 'zed'"):
        read_features(path, ["a", "b"])


def test_features_missing_node_duplicate_and_bad_value(tmp_path):
    with pytest.raises(InputError, match="no row for 1 node.*'c'"):
        read_features(write(tmp_path / "x.csv", "a,1\nb,2\n"), ["a", "b", "c"])
    with pytest.raises(InputError, match="line 2: node id 'a' appears twice"):
        read_features(write(tmp_path / "y.csv", "a,1\na,2\n"), ["a"])
    with pytest.raises(InputError, match="line 2: feature value 'x'"):
        read_features(write(tmp_path / "z.csv", "a,1\nb,x\n"), ["a", "b"])
    with pytest.raises(InputError, match="line 2: expected 3 columns"):
        read_features(write(tmp_path / "w.csv", "a,1,2\nb,2\n"), ["a", "b"])


def test_labels_and_assignments(tmp_path):
    y = read_labels(write(tmp_path / "y.csv", "node_id,label\nb,cat\na,dog\nc,cat\n"), ["a", "b", "c"])
    assert y[1] == y[2] and y[0] != y[1]
    clusters = read_assignments(write(tmp_path / "s.csv", "node_id,cluster,confidence\na,1,0.9\nb,0,0.8\n"), ["b", "a"])
    assert clusters.tolist() == [0, 1]
    with pytest.raises(InputError, match="line 2: cluster id '1.5'"):
        read_assignments(write(tmp_path / "t.csv", "b,0\na,1.5\n"), ["a", "b"])


# ---------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------


def test_atomic_writes_replace_and_leave_no_temporaries(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "old")
    atomic_write_text(tmp_path / "a.txt", "new")
    assert (tmp_path / "a.txt").read_text() == "new"
    atomic_write_csv(tmp_path / "b.csv", ["x", "y"], [(1, "a,b"), (2, "c")])
    assert (tmp_path / "b.csv").read_text() == 'x,y\n1,"a,b"\n2,c\n'
    atomic_torch_save({"t": torch.ones(2)}, tmp_path / "c.pt")
    assert torch.equal(torch.load(tmp_path / "c.pt")["t"], torch.ones(2))
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.csv", "c.pt"]


def test_atomic_write_failure_leaves_no_file_and_keeps_old_content(tmp_path):
    def rows():
        yield (1, 2)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_write_csv(tmp_path / "new.csv", ["a", "b"], rows())
    assert os.listdir(tmp_path) == []

    atomic_write_text(tmp_path / "keep.txt", "old")
    with pytest.raises(Exception):
        atomic_torch_save({"f": lambda: 0}, tmp_path / "keep.txt")  # lambdas cannot be pickled
    assert os.listdir(tmp_path) == ["keep.txt"]
    assert (tmp_path / "keep.txt").read_text() == "old"
    with pytest.raises(InputError, match="does not exist"):
        atomic_write_text(tmp_path / "no" / "dir.txt", "x")


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def small_model():
    torch.manual_seed(0)
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 0], [1, 0, 2, 1, 3, 2, 0, 3]])
    data = Data(x=torch.randn(4, 5), edge_index=edge_index)
    model = NeuNcut(5, 2, encoder="sage", hidden_channels=8, num_layers=2, gamma=10.0, dropout=0.1, act="relu")
    model.fit(data, epochs=3, progress=False, seed=0)
    return model, data


def test_checkpoint_round_trip(tmp_path, small_model):
    model, data = small_model
    config = {"features": {"kind": "file"}, "epochs": 3}
    save_checkpoint(tmp_path / "ck", model, config, ["a", "b", "c", "d"])
    loaded, loaded_config, ids = load_checkpoint(tmp_path / "ck")
    assert loaded_config == config and ids == ["a", "b", "c", "d"]
    assert repr(loaded) == repr(model) and not loaded.training
    assert torch.allclose(loaded.predict_proba(data), model.predict_proba(data))
    meta = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert meta["format_version"] == CHECKPOINT_FORMAT_VERSION and meta["model_kwargs"]["encoder"] == "sage"
    assert meta["package_version"] == neuncut_pyg.__version__ and meta["num_nodes"] == 4


def test_checkpoint_errors(tmp_path, small_model):
    model, _ = small_model
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing")
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / CHECKPOINT_FILE).write_bytes(b"not a zip file at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "corrupt")

    path = save_checkpoint(tmp_path / "old", model, {}, ["a", "b", "c", "d"])
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 999
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="format version 999"):
        load_checkpoint(tmp_path / "old")

    with pytest.raises(ValueError, match="JSON-serializable"):
        save_checkpoint(tmp_path / "bad", model, {"x": object()}, ["a"])
    assert not (tmp_path / "bad" / CHECKPOINT_FILE).exists()
    with pytest.raises(ValueError, match="activation"):
        save_checkpoint(tmp_path / "fn", NeuNcut(5, 2, act=torch.tanh), {}, ["a"])
    custom = NeuNcut(5, 2, encoder=torch.nn.Linear(5, 2))
    with pytest.raises(ValueError, match="custom encoder"):
        save_checkpoint(tmp_path / "custom", custom, {}, ["a"])
