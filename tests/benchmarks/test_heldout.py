"""benchmarks/heldout.py: the graph list is the documented draw, the table, and a --quick run."""
from __future__ import annotations

import pytest
from conftest import load_benchmark


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_graph_list_is_the_seeded_draw_within_the_documented_ranges():
    heldout = load_benchmark("heldout")
    assert heldout.GRAPHS == heldout.draw_graphs(len(heldout.GRAPHS))
    r = heldout.RANGES
    for g in heldout.GRAPHS:
        assert r["num_nodes"][0] <= g.num_nodes <= r["num_nodes"][1]
        assert r["num_communities"][0] <= g.num_communities <= r["num_communities"][1]
        assert r["mixing"][0] <= g.mixing <= r["mixing"][1]
        assert r["feature_noise"][0] <= g.feature_noise <= r["feature_noise"][1]
        assert g.num_features in r["num_features"]
    assert len({g.seed for g in heldout.GRAPHS}) == len(heldout.GRAPHS)


def test_table_has_a_row_per_graph_the_means_and_the_command():
    heldout = load_benchmark("heldout")
    graphs = heldout.QUICK_GRAPHS
    rows = []
    for i, g in enumerate(graphs):
        row = {"graph": g, "edges": 100, "planted": 2.0}
        for j, m in enumerate(heldout.METHODS):
            row[m] = {"NMI": 0.1 * (j + 1) + 0.01 * i, "Ncut": 2.0 + j, "seconds": 1.0}
        rows.append(row)
    text = heldout.format_markdown(rows, "python benchmarks/heldout.py --quick", {"epochs": 10, "n_init": 1})
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| graph seed"))
    body = [line for line in lines if line.startswith("| ") and line != header]
    assert len(body) == len(graphs) + 1
    assert all(line.count("|") == header.count("|") for line in body)
    assert body[-1].startswith("| mean NMI; mean Ncut / planted Ncut |")
    assert "| 0.105 | 1.000 |" in body[-1]  # NeuNcut's mean NMI and Ncut ratio
    assert "**0.400**" in body[0]  # the best NMI of a graph is bold
    assert "Command: `python benchmarks/heldout.py --quick`" in text


def test_quick_run_writes_the_table(tmp_path):
    heldout = load_benchmark("heldout")
    out = tmp_path / "results"
    assert heldout.main(["--quick", "--out", str(out)]) == 0
    text = (out / "heldout.md").read_text()
    for m in heldout.METHODS:
        assert f"{m} NMI" in text
    assert text.count("\n| 1 |") + text.count("\n| 2 |") == 2
    assert "NeuNcut's own start NMI" in text
    assert not (out / "heldout.partial.md").exists()
