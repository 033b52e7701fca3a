"""benchmarks/cli_featureless.py: the scores of an assignments.csv, the table, and a --quick run
of the real command line in a subprocess."""
from __future__ import annotations

import re

import pytest
import torch
from conftest import load_benchmark
from torch_geometric.data import Data


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_scores_cover_the_edge_lists_nodes_only():
    bench = load_benchmark("cli_featureless")
    # nodes 0-3 in two triangles' worth of edges, node 4 isolated (not in an edge list)
    edge_index = torch.tensor([[0, 1, 2, 3, 0, 2], [1, 0, 3, 2, 2, 0]])
    data = Data(edge_index=edge_index, y=torch.tensor([0, 0, 1, 1, 1]), num_nodes=5)
    scores = bench.score(data, {0: 5, 1: 5, 2: 7, 3: 7}, 2)
    assert scores["NMI"] == pytest.approx(1.0) and scores["ACC"] == pytest.approx(1.0)
    assert scores["Ncut"] == pytest.approx(2 * 1 / 3)  # one cut edge, each side's volume 3
    with pytest.raises(RuntimeError, match="1 nodes of the edge list have no cluster"):
        bench.score(data, {0: 5, 1: 5, 2: 7}, 2)


def test_before_must_be_a_checkout(tmp_path, capsys):
    bench = load_benchmark("cli_featureless")
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--before", str(tmp_path)])
    assert "no neuncut_pyg/cli.py there" in capsys.readouterr().err


def test_each_checkout_runs_its_own_code(tmp_path, monkeypatch):
    bench = load_benchmark("cli_featureless")
    calls = []
    monkeypatch.setattr(bench.subprocess, "run", lambda cmd, **kw: calls.append((cmd, kw)) or
                        bench.subprocess.CompletedProcess(cmd, 1, "", "stop"))
    with pytest.raises(RuntimeError, match="stop"):
        bench.run_cli(tmp_path / "other", tmp_path / "e.csv", 3, 0, tmp_path / "o", [])
    (cmd, kw), = calls
    assert cmd[1:4] == ["-m", "neuncut_pyg.cli", "fit"]
    assert kw["cwd"] == tmp_path / "other" and kw["env"]["PYTHONPATH"] == str(tmp_path / "other")


def test_quick_run_scores_the_command_lines_assignments(tmp_path):
    bench = load_benchmark("cli_featureless")
    out = tmp_path / "results"
    assert bench.main(["--quick", "--out", str(out)]) == 0
    text = (out / "cli_featureless_quick.md").read_text()
    match = re.search(r"\| planted \(N=300, k=3\) \| this checkout \| ([0-9.]+) ± [0-9.]+ \| ([0-9.]+) ±", text)
    assert match, text
    assert float(match.group(1)) > 0.5  # mixing 0.2, 3 communities: far above chance
    assert re.search(r"\| planted \(N=300, k=3\) \| this checkout: assign \| ([0-9.]+) ±", text), text
    assert "Command: `python benchmarks/cli_featureless.py --quick --out" in text
