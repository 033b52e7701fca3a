"""Tests of neuncut_pyg.io (edge lists, node tables, nodes without edges, output checks, atomic writes),
neuncut_pyg.checkpoint and benchmarks/io_speed.py."""
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
    output_directory,
    read_assignments,
    read_edge_list,
    read_features,
    read_graph,
    read_labels,
    read_node_list,
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


# ---------------------------------------------------------------------------------------------
# The fast reader keeps the line-by-line reader's results and messages
# ---------------------------------------------------------------------------------------------


def load_io_speed():
    import importlib.util

    from conftest import REPO

    spec = importlib.util.spec_from_file_location("io_speed_benchmark", REPO / "benchmarks" / "io_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def outcome(reader, path):
    """What a reader makes of a file: the graph, or its error message."""
    try:
        edge_index, edge_weight, ids = reader(path)
    except InputError as err:
        return "error", str(err)
    weights = None if edge_weight is None else [round(w, 5) for w in edge_weight.tolist()]
    return "graph", edge_index.tolist(), weights, ids


@pytest.mark.parametrize(
    "text",
    [
        "a,b\n\nb,c\n   \n# note, with, commas, here\nc,d\n\n\n",  # blank and comment lines between rows
        "a,b,1\n\n# x,y,z,w,v\nb,c,nan\n",  # a comment with more fields than the rows, then a bad row
        "a,b\nb,c\nc\nd,e,f\n",  # a short row before a long one: the short one is reported
        "a,b,1\nb,c,-2\nc,d,1,9\n",  # a negative weight before a long row
        "a,b\n,\n",  # a row of empty fields is not a blank line
        "a,b\n  ,c\n",
        "a,b,\n",  # a trailing comma is a third column
        'a,"b\nc",d\ne,f\n',  # a quoted line break: read line by line, as before
        'x,"y,z"\n"q" ,w\n',
        "a,b\r\nb,c\r\n\r\nc,d,e\r\n",
        "a\tb\t0.5\nb\tc\t1_0\nc\ta\t 2 \n",  # Python's float syntax
        "a b\n   c    d   \n\n  # c\ne\n",
        " a , b \nb,a\nc,#d\n#e,f\n",  # ids are stripped; '#' only starts a comment at the line start
        "src,dst,weight\na,b,1\nb,a,3\na,a,2\n",
        "# only\n# comments\n\n",
        "u,v\n# none\n",
        "NA,null\nnan,None\n",  # no id is missing data
    ],
)
def test_edge_list_reads_as_the_line_by_line_reader_did(tmp_path, text):
    old_reader = load_io_speed().old_read_edge_list
    path = tmp_path / "g.csv"
    path.write_bytes(text.encode())
    assert outcome(read_edge_list, path) == outcome(old_reader, path)


@pytest.mark.parametrize("hash_table", [True, False], ids=["pandas hash table", "dict fallback"])
def test_edge_list_random_files_read_as_the_line_by_line_reader_did(tmp_path, monkeypatch, hash_table):
    """Seeded random files mixing separators, headers, blank and comment lines, padded and
    empty ids, quotes and bad weights: the graph or the first error, as the old reader gave
    (read in chunks of 3 rows, so that ids are numbered across chunks; with pandas' hash
    table, and with the dict that stands in where a pandas version lacks it)."""
    import random

    import neuncut_pyg.io.edges as io_module

    monkeypatch.setattr(io_module, "_EDGE_CHUNK_ROWS", 3)
    if not hash_table:
        monkeypatch.setattr(io_module, "StringHashTable", None)
    old_reader = load_io_speed().old_read_edge_list
    rnd = random.Random(18)
    ids = ["a", "b", "c", " d", "e ", "#x", "NA", "01", '"q"', '"r,s"', "x y", "é", "", "  ", '"u', 'v"w']
    weights = ["1", "0.5", " 2 ", "-1", "nan", "inf", "x", "", "1_0", "1e3", "+3", "-0"]
    for case in range(150):
        sep = rnd.choice([",", "\t", None])
        num_columns = rnd.choice([2, 3])
        lines = ["# leading"] if rnd.random() < 0.3 else []
        if rnd.random() < 0.3:
            lines.append((sep or " ").join(["src", "dst", "weight"][:num_columns]))
        lines.append((sep or " ").join(["a", "b", "1"][:num_columns]))
        for _ in range(rnd.randint(0, 10)):
            r = rnd.random()
            if r < 0.12:
                lines.append(rnd.choice(["", "   ", "# c", "  # c,x,y,z", '# "']))
                continue
            n = num_columns if rnd.random() < 0.9 else rnd.choice([1, 2, 3, 4])
            fields = [rnd.choice(ids[:6] if rnd.random() < 0.8 else ids) for _ in range(min(n, 2))]
            fields += [rnd.choice(weights[:3] if rnd.random() < 0.85 else weights)] * (n >= 3) + ["z"] * (n >= 4)
            lines.append(" ".join(f.strip() or "q" for f in fields) if sep is None else sep.join(fields))
        ending = rnd.choice(["\n", "\r\n", "\r"])
        path = tmp_path / f"g{case}.csv"
        path.write_bytes((ending.join(lines) + rnd.choice(["", ending, ending * 2])).encode())
        assert outcome(read_edge_list, path) == outcome(old_reader, path), path.read_text()


def test_edge_list_fast_path_reads_blank_and_comment_lines_without_the_line_by_line_reader(tmp_path, monkeypatch):
    import neuncut_pyg.io.edges as io_module

    def line_by_line(*args):
        raise AssertionError("the line-by-line reader ran")

    monkeypatch.setattr(io_module, "_rows_line_by_line", line_by_line)
    path = write(tmp_path / "g.csv", "# graph\nsrc,dst,weight\na,b,1\n\n# a comment\nb , c,2\n   \nc,a,0.5\n\n")
    edge_index, edge_weight, ids = read_edge_list(path)
    assert ids == ["a", "b", "c"]
    assert edges_of(edge_index, edge_weight, ids) == {
        ("a", "b"): 1.0, ("b", "a"): 1.0, ("b", "c"): 2.0, ("c", "b"): 2.0, ("a", "c"): 0.5, ("c", "a"): 0.5}
    with pytest.raises(InputError, match="line 7: weight 'x' is not a number"):
        read_edge_list(write(tmp_path / "h.csv", "a,b,1\n\n# c\nb,c,2\n\n\nc,d,x\nd,e,1\n"))


@pytest.mark.parametrize(
    "reader, text, message",
    [
        ("features", "a,1\nb,2\nzed,3\n", "line 3: unknown node id 'zed' (not a node of the graph)"),
        ("features", "a,1\n\n# c\na,2\n", "line 4: node id 'a' appears twice"),
        ("features", "node,f\na,1\nb,x\n", "line 3: feature value 'x' is not a number"),
        ("features", "a,1\nb,inf\n", "line 2: feature value 'inf' is not finite"),
        ("features", "a,1\nb,\n", "line 2: feature value '' is not a number"),
        ("features", "a,1,2\nb,2\n", "line 2: expected 3 columns like the first row, got 2"),
        ("features", "a,1\nb,2,3\n", "line 2: expected 2 columns like the first row, got 3"),
        ("features", "a,1,x\nb,2\n", "line 2: expected 3 columns like the first row, got 2"),  # the shape error first
        ("features", "a,1\n,2\n", "line 2: empty node id"),
        ("features", "a\n", "line 1: expected a node id and at least one value, got 1 column(s)"),
        ("features", "a,1\n", "has no row for 1 node(s) of the graph: 'b'"),
        ("features", "node,f\n# none\n", "holds no rows"),
        ("labels", "a,x\nb\n", "line 2: expected 2 columns like the first row, got 1"),
        ("labels", "a,x,y\nb,z,w\n", "line 1: expected 2 columns (node_id, label), got 3"),
        ("assignments", "node_id,cluster\na,0\nb,x\n", "line 3: cluster id 'x' is not an integer"),
        ("assignments", "a,0\nb,1\nc,2\n", "line 3: unknown node id 'c'"),
    ],
)
def test_node_table_errors_name_the_line(tmp_path, reader, text, message):
    read = {"features": read_features, "labels": read_labels, "assignments": read_assignments}[reader]
    path = write(tmp_path / "t.csv", text)
    with pytest.raises(InputError) as info:
        read(path, ["a", "b"])
    assert message in str(info.value) and str(path) in str(info.value)


def test_node_tables_skip_blank_and_comment_lines_and_strip_fields(tmp_path):
    x = read_features(write(tmp_path / "x.tsv", "# features\nnode\tf1\tf2\n\nb\t 3 \t4\n  \na \t1\t2\n"), ["a", "b"])
    assert x.tolist() == [[1, 2], [3, 4]]
    y = read_labels(write(tmp_path / "y.csv", "b, cat\n\n# c\na,dog\n"), ["a", "b"])
    assert y.tolist() == [0, 1]


def test_edge_list_errors_of_the_read(tmp_path):
    (tmp_path / "latin1.csv").write_bytes("a,b\nc,\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8 text"):
        read_edge_list(tmp_path / "latin1.csv")


def test_read_edge_list_shows_progress_on_a_terminal(tmp_path, monkeypatch):
    import io as stdio
    import sys

    class Terminal(stdio.StringIO):
        def isatty(self):
            return True

    path = write(tmp_path / "g.csv", "a,b\nb,c\n")
    for progress, shown in ((True, True), (False, False)):
        terminal = Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        read_edge_list(path, progress=progress)
        assert ("reading g.csv" in terminal.getvalue()) is shown
        assert ("building graph" in terminal.getvalue()) is shown


# ---------------------------------------------------------------------------------------------
# Nodes without edges: read_graph, read_node_list
# ---------------------------------------------------------------------------------------------


def test_read_graph_adds_the_features_files_other_nodes_as_isolated(tmp_path):
    edges = write(tmp_path / "g.csv", "a,b\nb,c\n")
    features = write(tmp_path / "x.csv", "node,f\nlonely,9\nc,3\na,1\nb,2\nalone,8\n")
    graph = read_graph(edges, features=features)
    assert graph.node_ids == ["a", "b", "c", "lonely", "alone"] and graph.num_isolated == 2
    assert graph.x.view(-1).tolist() == [1, 2, 3, 9, 8]
    assert graph.edge_index.max() == 2  # the new nodes have no edges
    assert read_graph(edges).num_isolated == 0 and read_graph(edges).x is None


def test_read_graph_node_list_and_errors(tmp_path):
    edges = write(tmp_path / "g.csv", "# g\nsrc,dst\na,b\nb,c\n")
    graph = read_graph(edges, nodes=write(tmp_path / "nodes.txt", "id\nc\nz\n\ny\n"))
    assert graph.node_ids == ["a", "b", "c", "z", "y"] and graph.x is None and graph.num_isolated == 2
    with pytest.raises(InputError, match=r"no row for 1 node\(s\) of the graph: 'b' \(.*g.csv, line 3 names 'b'\)"):
        read_graph(edges, features=write(tmp_path / "x.csv", "a,1\nc,2\nz,3\n"))
    with pytest.raises(InputError, match="line 3: node id 'a' appears twice"):
        read_graph(edges, features=write(tmp_path / "y.csv", "a,1\nb,1\na,2\nc,2\n"))
    with pytest.raises(InputError, match="line 2: node id 'z' appears twice"):
        read_graph(edges, nodes=write(tmp_path / "dup.txt", "z\nz\n"))
    np.save(tmp_path / "x.npy", np.ones((4, 2)))
    with pytest.raises(InputError, match="to add nodes without edges, give the features as a CSV"):
        read_graph(edges, features=tmp_path / "x.npy")
    with pytest.raises(InputError, match="either in the features file or in a node list"):
        read_graph(edges, features=tmp_path / "x.npy", nodes=tmp_path / "nodes.txt")


def test_read_node_list_takes_the_first_column_of_any_table(tmp_path):
    assert read_node_list(write(tmp_path / "a.csv", "node_id,cluster,confidence\nx,0,0.9\ny,1,0.5\n")) == ["x", "y"]
    assert read_node_list(write(tmp_path / "b.txt", " p \nq\n# r\n")) == ["p", "q"]
    assert read_node_list(write(tmp_path / "c.csv", "a,1\nb,1,2,3\nc\n")) == ["a", "b", "c"]  # any row length


# ---------------------------------------------------------------------------------------------
# output_directory
# ---------------------------------------------------------------------------------------------


def test_output_directory_is_created_checked_and_removed_on_failure(tmp_path):
    with output_directory(tmp_path / "a" / "b") as out:
        assert out.is_dir() and os.listdir(out) == []
    with pytest.raises(RuntimeError):
        with output_directory(tmp_path / "c" / "d"):
            raise RuntimeError("the run failed")
    assert not (tmp_path / "c").exists()  # what it created is gone again
    write(tmp_path / "file.txt", "x")
    with pytest.raises(OSError, match="file.txt is a file, not a directory"):
        with output_directory(tmp_path / "file.txt" / "run"):
            pass


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_directory_read_only(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o555)
    with pytest.raises(OSError, match="cannot (create|write into) directory"):
        with output_directory(tmp_path / "ro" / "run"):
            pass


# ---------------------------------------------------------------------------------------------
# benchmarks/io_speed.py
# ---------------------------------------------------------------------------------------------


def test_io_speed_quick_writes_a_table_of_every_reader(tmp_path, capsys):
    io_speed = load_io_speed()
    assert io_speed.main(["--quick", "--output", str(tmp_path / "io_speed.md")]) == 0
    table = (tmp_path / "io_speed.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| reader |")]
    assert [row.split("|")[1].strip() for row in rows] == list(io_speed.READERS)
    for row in rows:
        seconds, cpu, peak, ratio, cpu_ratio = map(float, row.strip("|").split("|")[1:])
        assert seconds > 0 and cpu > 0 and ratio > 0 and cpu_ratio > 0
    assert "Command: `python benchmarks/io_speed.py --quick" in table
