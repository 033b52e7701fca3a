"""Tests of the ``neuncut`` command line, through the real entry point (a subprocess)."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data

from neuncut_pyg.checkpoint import save_checkpoint
from neuncut_pyg.cli import main, node_id_features
from neuncut_pyg.generators import planted_partition_graph
from neuncut_pyg.checkpoint import load_checkpoint
from neuncut_pyg.metrics import nmi, normalized_cut
from neuncut_pyg.models import NeuNcut

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SCRIPT = Path(sys.executable).with_name("neuncut")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "neuncut_pyg.cli"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
QUICK = ["--epochs", "80", "--lr", "0.01", "--hidden", "32", "--n-init", "1", "--quiet"]




def neuncut(*args, cwd=None):
    return subprocess.run([*COMMAND, *map(str, args)], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=300)


def run_main(capsys, *args):
    """``main`` in this process: ``(status, stdout, stderr)`` (the script runs the same code)."""
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def scores(stdout):
    """{metric: value} from the table `neuncut evaluate` prints."""
    rows = [line.split() for line in stdout.strip().splitlines()]
    assert rows[0] == ["metric", "value"]
    return {name: float(value) for name, value in rows[1:]}


@pytest.fixture(scope="module")
def graph_files(tmp_path_factory):
    """A 240-node, 3-community planted partition as files with string node ids."""
    root = tmp_path_factory.mktemp("cli")
    data = planted_partition_graph(240, 3, 10.0, mixing=0.15, seed=1, size_exponent=0.0, num_features=8)
    ids = [f"n{i}" for i in range(240)]
    pairs = [(a, b) for a, b in data.edge_index.t().tolist() if a < b]
    (root / "edges.csv").write_text("source,target\n" + "".join(f"{ids[a]},{ids[b]}\n" for a, b in pairs))
    (root / "labels.csv").write_text("node_id,label\n" + "".join(f"{n},c{y}\n" for n, y in zip(ids, data.y.tolist())))
    (root / "features.csv").write_text(
        "".join(f"{n}," + ",".join(f"{v:.5f}" for v in row) + "\n" for n, row in zip(ids, data.x.tolist()))
    )
    # The same graph (tab-separated) grown by two new nodes, each tied to three nodes of one community
    members = {c: [ids[i] for i in range(240) if data.y[i] == c][:3] for c in (0, 1)}
    grown = "".join(f"{ids[a]}\t{ids[b]}\n" for a, b in pairs)
    grown += "".join(f"new_a\t{m}\n" for m in members[0]) + "".join(f"new_b\t{m}\n" for m in members[1])
    (root / "grown.tsv").write_text(grown)
    return root, data, ids, members


def test_fit_evaluate_assign_on_an_edge_list(graph_files, tmp_path, capsys):
    root, data, ids, members = graph_files
    out = tmp_path / "run"
    result = neuncut("fit", "--edges", root / "edges.csv", "--k", 3, "--out", out, "--plot", *QUICK)
    assert result.returncode == 0, result.stderr
    assert {"checkpoint.pt", "config.json", "assignments.csv", "loss.png", "cluster_sizes.png"} <= set(os.listdir(out))
    assert "confusion.png" not in os.listdir(out)  # no labels with --edges
    for png in ("loss.png", "cluster_sizes.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = read_csv(out / "assignments.csv")
    first_seen = list(dict.fromkeys(n for line in (root / "edges.csv").read_text().split()[1:] for n in line.split(",")))
    assert [row["node_id"] for row in rows] == first_seen  # every node, in order of first appearance
    assert sorted(first_seen) == sorted(ids)
    assert all(0.0 < float(row["confidence"]) <= 1.0 for row in rows)
    fitted = {row["node_id"]: int(row["cluster"]) for row in rows}
    assert nmi(data.y, torch.tensor([fitted[n] for n in ids])) > 0.6  # measured 0.86

    result = neuncut("evaluate", "--assignments", out / "assignments.csv", "--edges", root / "edges.csv",
                     "--labels", root / "labels.csv")
    assert result.returncode == 0, result.stderr
    table = scores(result.stdout)
    assert list(table) == ["NMI", "ACC", "ARI", "F1", "Ncut", "Modularity", "Conductance"]
    assert table["NMI"] > 0.6 and 0.0 <= table["Conductance"] <= 1.0
    status, stdout, _ = run_main(capsys, "evaluate", "--assignments", out / "assignments.csv", "--edges", root / "edges.csv")
    assert status == 0 and list(scores(stdout)) == ["Ncut", "Modularity", "Conductance"]

    # assign: the grown graph, with two node ids never seen in training, without retraining
    result = neuncut("assign", "--model", out, "--edges", root / "grown.tsv", "--out", tmp_path / "grown.csv")
    assert result.returncode == 0, result.stderr
    assert "2 not in the training graph" in result.stdout
    assigned = {row["node_id"]: int(row["cluster"]) for row in read_csv(tmp_path / "grown.csv")}
    assert set(assigned) == set(ids) | {"new_a", "new_b"}
    agree = sum(assigned[n] == fitted[n] for n in ids) / len(ids)
    assert agree > 0.95
    for new, community in (("new_a", 0), ("new_b", 1)):
        neighbours = [fitted[m] for m in members[community]]
        assert assigned[new] == max(set(neighbours), key=neighbours.count)


@pytest.mark.parametrize("encoder", ["sage", "mlp"])  # mlp: its fitted depth and standardization travel too
def test_fit_with_features_and_assign_requires_them(graph_files, tmp_path, capsys, encoder):
    root, data, ids, _ = graph_files
    out = tmp_path / "run"
    status, _, err = run_main(capsys, "fit", "--edges", root / "edges.csv", "--features", root / "features.csv",
                              "--k", 3, "--encoder", encoder, "--out", out, *QUICK)
    assert status == 0, err
    status, _, err = run_main(capsys, "assign", "--model", out, "--edges", root / "edges.csv", "--out", tmp_path / "a.csv")
    assert status == 2 and "give --features" in err
    status, _, err = run_main(capsys, "assign", "--model", out, "--edges", root / "edges.csv",
                              "--features", root / "features.csv", "--out", tmp_path / "a.csv")
    assert status == 0, err
    # assign on the training graph reproduces fit's assignments
    assert read_csv(tmp_path / "a.csv") == read_csv(out / "assignments.csv")


def test_fit_and_evaluate_synthetic_dataset(tmp_path, capsys):
    out = tmp_path / "run"
    synthetic = ["--dataset", "synthetic", "--nodes", 200, "--communities", 2, "--seed", 3]
    status, stdout, err = run_main(capsys, "fit", *synthetic, "--out", out, "--plot", *QUICK)
    assert status == 0, err
    assert "k=2" in stdout  # k from the planted communities
    assert (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    status, stdout, err = run_main(capsys, "evaluate", "--assignments", out / "assignments.csv", *synthetic)
    assert status == 0, err
    assert scores(stdout)["NMI"] > 0.6


def test_fit_cora(planetoid_root, tmp_path, capsys):
    status, stdout, err = run_main(capsys, "fit", "--dataset", "cora", "--root", planetoid_root, "--epochs", 3,
                                   "--hidden", 16, "--n-init", 1, "--quiet", "--out", tmp_path / "cora")
    assert status == 0, err
    assert "2708 nodes, k=7" in stdout
    assert len(read_csv(tmp_path / "cora" / "assignments.csv")) == 2708


def test_fit_k_auto_on_an_edge_list_and_assign(graph_files, tmp_path, capsys):

    root, data, ids, _ = graph_files
    out = tmp_path / "auto"
    status, stdout, err = run_main(capsys, "fit", "--edges", root / "edges.csv", "--k", "auto", "--out", out, *QUICK)
    assert status == 0, err
    assert "k=3 (chosen: --k auto)" in stdout
    model, config, _ = load_checkpoint(out)
    assert config["num_clusters"] == model.num_clusters_ == 3 and config["features"] == {"kind": "model"}
    assert config["ncut"] >= 0 and config["kept"] in ("trained", "start") and model.featureless_input_ is not None
    fitted = {row["node_id"]: int(row["cluster"]) for row in read_csv(out / "assignments.csv")}
    assert nmi(data.y, torch.tensor([fitted[n] for n in ids])) > 0.8
    # the file holds the partition fit kept: the Ncut the command reports is that partition's
    labels = torch.tensor([fitted[n] for n in ids])
    assert normalized_cut(labels, data.edge_index, num_clusters=3) == pytest.approx(config["ncut"], rel=1e-5)
    status, _, err = run_main(capsys, "assign", "--model", out, "--edges", root / "grown.tsv",
                              "--out", tmp_path / "grown.csv")
    assert status == 0, err
    assigned = {row["node_id"]: int(row["cluster"]) for row in read_csv(tmp_path / "grown.csv")}
    assert sum(assigned[n] == fitted[n] for n in ids) / len(ids) > 0.95
    status, _, err = run_main(capsys, "fit", "--edges", root / "edges.csv", "--k", 3, "--k-max", 5, "--out", out)
    assert status == 2 and "--k-min and --k-max bound --k auto" in err


def test_checkpoints_of_node_id_features_still_assign(graph_files, tmp_path, capsys):
    # Written before the library's featureless path: the model reads the 32 node-id features.
    root, data, ids, _ = graph_files
    edge_index = data.edge_index
    x = node_id_features(ids, edge_index, dim=32, steps=4, seed=0)
    model = NeuNcut(32, 3, hidden_channels=16).fit(Data(x=x, edge_index=edge_index), epochs=20, lr=1e-2, n_init=1,
                                                   seed=0, progress=False)
    legacy = {"kind": "node-id-random-walk", "dim": 32, "steps": 4, "seed": 0}
    save_checkpoint(tmp_path / "old", model, {"features": legacy}, ids)
    status, _, err = run_main(capsys, "assign", "--model", tmp_path / "old", "--edges", root / "edges.csv",
                              "--out", tmp_path / "a.csv")
    assert status == 0, err
    assigned = {row["node_id"]: int(row["cluster"]) for row in read_csv(tmp_path / "a.csv")}
    expected = model.predict(Data(x=x, edge_index=edge_index))
    assert [assigned[n] for n in ids] == expected.tolist()


def test_node_id_features_are_keyed_by_id():
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    x = node_id_features(["a", "b", "c"], edge_index, steps=0, dim=4)
    y = node_id_features(["c", "a", "b"], edge_index, steps=0, dim=4)
    # without walking, a node's vector (before standardization) depends on its id only
    raw = lambda ids: node_id_features(ids, torch.empty(2, 0, dtype=torch.long), steps=0, dim=4)  # noqa: E731
    assert x.shape == (3, 4) and torch.isfinite(x).all()
    assert torch.allclose(raw(["a", "b", "c"])[[2, 0, 1]], raw(["c", "a", "b"]), atol=1e-6)
    assert not torch.allclose(x, y)


@pytest.fixture(scope="module")
def bad_cases(graph_files, tmp_path_factory):
    """Every bad input: ``{name: (argv, expected message fragment)}``, and the output dir."""
    root, _, _, _ = graph_files
    tmp = tmp_path_factory.mktemp("bad")
    (tmp / "malformed.csv").write_text("a,b,1\nb,c,1\nc,d,heavy\n")
    (tmp / "empty.csv").write_text("src,dst\n")
    (tmp / "unknown.csv").write_text("".join(f"n{i},1.0\n" for i in range(240)) + "ghost,2.0\n")
    (tmp / "missing.csv").write_text("".join(f"n{i},1.0\n" for i in range(239)))  # no row for n239
    (tmp / "tiny.csv").write_text("a,b\nb,c\n")
    old = tmp / "old_model"
    model = NeuNcut(32, 3, hidden_channels=8)
    save_checkpoint(old, model, {"features": {"kind": "node-id-random-walk", "dim": 32, "steps": 4, "seed": 0}}, ["n0"])
    payload = torch.load(old / "checkpoint.pt", weights_only=True)
    payload["format_version"] = 0
    torch.save(payload, old / "checkpoint.pt")
    (tmp / "no_data").mkdir()
    edges = root / "edges.csv"
    out = tmp / "out"
    cases = {
        "missing file": (["fit", "--edges", tmp / "nope.csv", "--k", 3, "--out", out], "edge list file not found"),
        "malformed row": (["fit", "--edges", tmp / "malformed.csv", "--k", 2, "--out", out], "line 3: weight 'heavy'"),
        "node without features": (["fit", "--edges", edges, "--features", tmp / "missing.csv", "--k", 3, "--out", out],
                                  f"has no row for 1 node(s) of the graph: 'n239' ({edges}, line "),
        "features and node list": (["fit", "--edges", edges, "--features", tmp / "missing.csv", "--nodes",
                                    tmp / "missing.csv", "--k", 3, "--out", out], "--nodes lists the nodes of a graph"),
        "node list with a dataset": (["fit", "--dataset", "cora", "--nodes", tmp / "missing.csv", "--out", out],
                                     "--nodes goes with --edges"),
        "node count not a number": (["fit", "--dataset", "synthetic", "--nodes", "many", "--out", out],
                                    "--nodes with --dataset synthetic is the number of nodes"),
        "missing node list": (["fit", "--edges", edges, "--nodes", tmp / "nope.txt", "--k", 3, "--out", out],
                              "node list file not found"),
        "k too large": (["fit", "--edges", tmp / "tiny.csv", "--k", 5, "--out", out], "larger than the number of nodes (3)"),
        "k missing": (["fit", "--edges", edges, "--out", out], "--k (the number of clusters) is required"),
        "empty graph": (["fit", "--edges", tmp / "empty.csv", "--k", 2, "--out", out], "empty"),
        "old checkpoint": (["assign", "--model", old, "--edges", edges, "--out", tmp / "a.csv"], "format version 0"),
        "no checkpoint": (["assign", "--model", tmp / "no_model", "--edges", edges, "--out", tmp / "a.csv"],
                          "no checkpoint"),
        "dataset not found": (["fit", "--dataset", "cora", "--root", tmp / "no_data", "--out", out],
                              "Planetoid dataset Cora not found"),
        "unknown dataset": (["fit", "--dataset", "imaginary", "--out", out], "unknown dataset 'imaginary'"),
        "features with dataset": (["fit", "--dataset", "synthetic", "--features", tmp / "unknown.csv", "--out", out],
                                  "--features goes with --edges"),
        "bad dropout": (["fit", "--edges", edges, "--k", 3, "--dropout", 1.5, "--out", out], "dropout must be"),
        "evaluate unknown node": (["evaluate", "--assignments", tmp / "unknown.csv", "--edges", edges],
                                  "unknown node id 'ghost'"),
    }
    return {name: ([str(a) for a in args], expected) for name, (args, expected) in cases.items()}, out


def check_error(returncode, stderr, expected):
    assert returncode == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neuncut: error: "), stderr
    assert expected in lines[0]


#: Checked through the real script too (a process each, a few seconds of imports apiece).
ENTRY_POINT_CASES = ["missing file", "malformed row", "node without features", "k too large", "k missing",
                     "empty graph", "old checkpoint", "no checkpoint", "dataset not found", "unknown dataset",
                     "evaluate unknown node", "features with dataset", "bad dropout"]
BAD_CASES = ENTRY_POINT_CASES + ["features and node list", "node list with a dataset", "node count not a number",
                                 "missing node list"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_gives_one_line_error_and_status_2(bad_cases, case, capsys):
    """``main`` in this process (the code the script runs), for every bad input."""
    cases, out = bad_cases
    args, expected = cases[case]
    returncode = main(args)
    check_error(returncode, capsys.readouterr().err, expected)
    assert not out.exists()  # a failed run writes nothing, not even the --out it created to check it


def test_every_bad_input_through_the_entry_point(bad_cases):
    """The real script for every bad input (two processes at a time): one line, status 2."""
    cases, out = bad_cases
    for pair in (ENTRY_POINT_CASES[i : i + 2] for i in range(0, len(ENTRY_POINT_CASES), 2)):
        procs = {name: subprocess.Popen([*COMMAND, *cases[name][0]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, env=ENV) for name in pair}
        for name, proc in procs.items():
            _, stderr = proc.communicate(timeout=300)
            check_error(proc.returncode, stderr, cases[name][1])
    assert not out.exists()


def test_usage_errors_come_from_argparse(capsys):
    with pytest.raises(SystemExit) as info:
        main(["fit", "--k", "3", "--out", "x"])
    assert info.value.code == 2
    assert "one of the arguments --dataset --edges is required" in capsys.readouterr().err


@pytest.mark.parametrize("init", ["random", "spectral"])
def test_fit_init_option_reaches_the_model_and_the_config(tmp_path, capsys, init):

    out = tmp_path / init
    synthetic = ["--dataset", "synthetic", "--nodes", 200, "--communities", 2, "--seed", 3]
    status, _, err = run_main(capsys, "fit", *synthetic, "--init", init, "--out", out, *QUICK)
    assert status == 0, err
    _, config, _ = load_checkpoint(out)
    assert config["train"]["init"] == init


def test_fit_rejects_an_unknown_init(capsys):
    with pytest.raises(SystemExit) as info:
        main(["fit", "--dataset", "synthetic", "--init", "kmeans", "--out", "x"])
    assert info.value.code == 2
    assert "--init" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Nodes without edges
# ---------------------------------------------------------------------------------------------


def community_means(data, ids, communities):
    """For each community, a feature row at the mean of its nodes (as text)."""
    rows = {}
    for c in communities:
        mean = data.x[data.y == c].mean(dim=0)
        rows[c] = ",".join(f"{v:.5f}" for v in mean.tolist())
    return rows


def majority(assigned, ids, data, community):
    clusters = [assigned[n] for n, y in zip(ids, data.y.tolist()) if y == community]
    return max(set(clusters), key=clusters.count)


def fit_edges(capsys, root, out, *options):
    """``neuncut fit`` on the test graph's edge list with ``options`` (quick, k=3): stdout and the assignments."""
    status, stdout, err = run_main(capsys, "fit", "--edges", root / "edges.csv", *options, "--k", 3, "--out", out,
                                   *QUICK)
    assert status == 0, err
    return stdout, read_csv(out / "assignments.csv")


def test_nodes_only_in_the_features_file_are_assigned(graph_files, tmp_path, capsys):
    """fit: two ids of the features file have no edges; they become isolated nodes assigned by
    their features, and every node of the features file gets a row. assign: two more new nodes
    without edges. evaluate: the isolated nodes come from --nodes."""
    root, data, ids, _ = graph_files
    means = community_means(data, ids, (0, 1, 2))
    features = tmp_path / "features.csv"
    features.write_text((root / "features.csv").read_text() + f"lonely_0,{means[0]}\nlonely_1,{means[1]}\n")
    out = tmp_path / "run"
    stdout, rows = fit_edges(capsys, root, out, "--features", features)
    assert "(242 nodes, k=3; 2 of the nodes without edges)" in stdout
    assert [row["node_id"] for row in rows][-2:] == ["lonely_0", "lonely_1"] and len(rows) == 242
    fitted = {row["node_id"]: int(row["cluster"]) for row in rows}
    assert all(0.0 < float(row["confidence"]) <= 1.0 for row in rows)
    for community in (0, 1):
        assert fitted[f"lonely_{community}"] == majority(fitted, ids, data, community)

    grown = tmp_path / "grown.csv"
    grown.write_text(features.read_text() + f"new_2,{means[2]}\nnew_0,{means[0]}\n")
    status, stdout, err = run_main(capsys, "assign", "--model", out, "--edges", root / "edges.csv",
                                   "--features", grown, "--out", tmp_path / "assigned" / "grown.csv", "--quiet")
    assert status == 0, err
    assert "assigned 244 nodes (2 not in the training graph, 4 without edges)" in stdout
    assigned = {row["node_id"]: int(row["cluster"]) for row in read_csv(tmp_path / "assigned" / "grown.csv")}
    assert set(assigned) == set(fitted) | {"new_2", "new_0"}
    # The training graph's nodes keep their clusters: fit's file is the partition it kept, assign's
    # the network's. They are one partition when the trained one was kept; when the start was kept
    # (QUICK's short training may not lower its Ncut), the network was fitted to it (measured: 2 of
    # 242 nodes differ).
    same = sum(assigned[n] == fitted[n] for n in fitted) / len(fitted)
    assert same == 1.0 if load_checkpoint(out)[1]["kept"] == "trained" else same > 0.95
    assert assigned["new_2"] == majority(fitted, ids, data, 2) and assigned["new_0"] == fitted["lonely_0"]

    status, stdout, err = run_main(capsys, "evaluate", "--assignments", out / "assignments.csv",
                                   "--edges", root / "edges.csv", "--nodes", features, "--quiet")
    assert status == 0, err
    assert scores(stdout)["Ncut"] >= 0
    status, _, err = run_main(capsys, "evaluate", "--assignments", out / "assignments.csv", "--edges", root / "edges.csv")
    assert status == 2 and "unknown node id 'lonely_0'" in err


def test_featureless_graph_takes_isolated_nodes_from_a_node_list(graph_files, tmp_path, capsys):
    root, _, ids, _ = graph_files
    nodes = tmp_path / "nodes.txt"
    nodes.write_text("node\n" + "\n".join(ids[:5]) + "\nhermit\n")
    out = tmp_path / "run"
    stdout, rows = fit_edges(capsys, root, out, "--nodes", nodes)
    assert "(241 nodes, k=3; 1 of the nodes without edges)" in stdout
    assert rows[-1]["node_id"] == "hermit" and len(rows) == 241
    more = tmp_path / "more.txt"
    more.write_text("hermit\nrecluse\n")
    status, stdout, err = run_main(capsys, "assign", "--model", out, "--edges", root / "edges.csv", "--nodes", more,
                                   "--out", tmp_path / "a.csv")
    assert status == 0, err
    assert "assigned 242 nodes (1 not in the training graph, 2 without edges)" in stdout
    assigned = read_csv(tmp_path / "a.csv")
    assert [row["node_id"] for row in assigned][-2:] == ["hermit", "recluse"]
    assert {row["node_id"]: row["cluster"] for row in assigned}["hermit"] == rows[-1]["cluster"]


# ---------------------------------------------------------------------------------------------
# --out is checked before anything is read; progress; defaults
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def nothing_may_run(monkeypatch):
    """Makes reading inputs, loading models and training fail loudly, to prove they never start."""
    import neuncut_pyg.cli as cli

    def forbidden(*args, **kwargs):
        raise AssertionError("input was read or training started before --out was checked")

    for name in ("read_graph", "load_dataset", "load_checkpoint", "NeuNcut", "planted_partition_graph"):
        monkeypatch.setattr(cli, name, forbidden)


@pytest.mark.parametrize("command", ["fit-edges", "fit-dataset", "assign"])
def test_unwritable_out_fails_before_reading_or_training(graph_files, tmp_path, capsys, nothing_may_run, command):
    root, _, _, _ = graph_files
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    argv = {
        "fit-edges": ["fit", "--edges", root / "edges.csv", "--k", 3, "--out", blocker / "run"],
        "fit-dataset": ["fit", "--dataset", "synthetic", "--out", blocker / "sub" / "run"],
        "assign": ["assign", "--model", tmp_path, "--edges", root / "edges.csv", "--out", blocker / "a.csv"],
    }[command]
    status, _, err = run_main(capsys, *argv)
    assert status == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neuncut: error: cannot create directory")
    assert f"{blocker} is a file, not a directory" in lines[0]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_fails_before_reading(graph_files, tmp_path, capsys, nothing_may_run):
    root, _, _, _ = graph_files
    (tmp_path / "ro").mkdir(mode=0o555)
    status, _, err = run_main(capsys, "fit", "--edges", root / "edges.csv", "--k", 3, "--out", tmp_path / "ro")
    assert status == 1 and "cannot write into directory" in err


def test_out_that_is_a_file_or_a_directory(graph_files, tmp_path, capsys, nothing_may_run):
    root, _, _, _ = graph_files
    (tmp_path / "f").write_text("x")
    status, _, err = run_main(capsys, "fit", "--edges", root / "edges.csv", "--k", 3, "--out", tmp_path / "f")
    assert status == 2 and "exists and is not a directory" in err
    status, _, err = run_main(capsys, "assign", "--model", tmp_path, "--edges", root / "edges.csv", "--out", tmp_path)
    assert status == 2 and "is a directory; give the path of the assignments CSV" in err


def test_progress_bars_on_a_terminal_unless_quiet(graph_files, tmp_path, monkeypatch, capsys):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    root, _, _, _ = graph_files
    for quiet, shown in (([], True), (["--quiet"], False)):
        terminal = Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        status = main(["fit", "--edges", str(root / "edges.csv"), "--k", "3", "--epochs", "2", "--hidden", "8",
                       "--n-init", "1", "--init", "random", "--out", str(tmp_path / "run"), *quiet])
        assert status == 0, terminal.getvalue()
        assert ("reading edges.csv" in terminal.getvalue()) is shown
        assert ("building graph" in terminal.getvalue()) is shown


def test_cli_defaults_are_the_librarys():
    import inspect

    from neuncut_pyg.cli import build_parser

    args = build_parser().parse_args(["fit", "--edges", "g.csv", "--out", "run"])
    model = inspect.signature(NeuNcut).parameters
    fit = inspect.signature(NeuNcut.fit).parameters
    assert args.hidden == model["hidden_channels"].default
    assert args.layers == model["num_layers"].default
    assert args.dropout == model["dropout"].default
    assert args.gamma == model["gamma"].default
    assert args.encoder == model["encoder"].default
    assert args.epochs == fit["epochs"].default and args.lr == fit["lr"].default
    assert args.init == fit["init"].default and args.n_init is None and args.batch_size is None
    assert args.seed == 0 and fit["seed"].default is None  # the command line is reproducible; its help says so


def test_assignment_rows_write_the_kept_cluster_with_its_membership():
    from neuncut_pyg.cli import _assignments_rows

    proba = torch.tensor([[0.7, 0.3], [0.4, 0.6]])
    assert list(_assignments_rows(["a", "b"], proba)) == [("a", 0, "0.700000"), ("b", 1, "0.600000")]
    # fit writes the partition it kept (e.g. the start's), which the network may not reproduce
    assert list(_assignments_rows(["a", "b"], proba, torch.tensor([1, 1]))) == [("a", 1, "0.300000"),
                                                                                ("b", 1, "0.600000")]
