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
from neuncut_pyg.metrics import nmi
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
    from neuncut_pyg.checkpoint import load_checkpoint

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
        "unknown node id": (["fit", "--edges", edges, "--features", tmp / "unknown.csv", "--k", 3, "--out", out],
                            "line 241: unknown node id 'ghost'"),
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


BAD_CASES = ["missing file", "malformed row", "unknown node id", "k too large", "k missing", "empty graph",
             "old checkpoint", "no checkpoint", "dataset not found", "unknown dataset", "evaluate unknown node",
             "features with dataset", "bad dropout"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_gives_one_line_error_and_status_2(bad_cases, case, capsys):
    """``main`` in this process (the code the script runs), for every bad input."""
    cases, out = bad_cases
    args, expected = cases[case]
    returncode = main(args)
    check_error(returncode, capsys.readouterr().err, expected)
    assert not out.exists()  # a failed run writes nothing


def test_every_bad_input_through_the_entry_point(bad_cases):
    """The real script for every bad input (two processes at a time): one line, status 2."""
    cases, out = bad_cases
    for pair in (BAD_CASES[i : i + 2] for i in range(0, len(BAD_CASES), 2)):
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
    from neuncut_pyg.checkpoint import load_checkpoint

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
