"""benchmarks/featureless_choices.py: a --quick run writes both tables whole, with real scores,
the library's settings marked, and the command under them."""
from __future__ import annotations

import re

import pytest
from conftest import load_benchmark

import neuncut_pyg.models.neuncut
from neuncut_pyg.models.featureless import FEATURELESS_SHRINKAGE

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_quick_run_writes_both_tables(tmp_path):
    choices = load_benchmark("featureless_choices")
    out = tmp_path / "results"
    assert choices.main(["--quick", "--root", str(tmp_path / "no-data"), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["featureless_choices_quick.md"]
    text = (out / "featureless_choices_quick.md").read_text()
    assert "python benchmarks/featureless_choices.py --quick" in text
    starts = re.findall(r"\| planted N=600, mixing (0\.\d) \(1 seed\) \| (.*) \|", text)
    assert [m for m, _ in starts] == ["0.3", "0.5", "0.6"]
    for _, cells in starts:
        scores = [tuple(map(float, c.split(" / "))) for c in cells.split(" | ")]
        assert len(scores) == len(choices.REGULARIZATIONS)
        assert all(0.0 <= nmi <= 1.0 and ncut >= 0.0 for nmi, ncut in scores)
    assert float(starts[0][1].split(" / ")[0]) > 0.5  # mixing 0.3: the start finds the blocks
    inputs = re.findall(r"^\| \**(\d+ / \d+ / [0-9.e-]+)\** .*\| (\d+) of 18 \|", text, flags=re.M)
    assert [s for s, _ in inputs] == ["4 / 2 / 0", "8 / 8 / 0"]
    assert all(0 <= int(placed) <= 18 for _, placed in inputs)
    assert "**tau = mean_degree**" in text  # the library's start


def test_the_input_levers_reach_the_model():
    choices = load_benchmark("featureless_choices")
    data, _, _ = choices.grown_graph()
    harness = load_benchmark("harness")
    levers = dict(zip(choices._LEVERS, (2, 1, 0.5)))
    with harness.patched({f"neuncut_pyg.models.neuncut:{k}": v for k, v in levers.items()}):
        from neuncut_pyg.models import NeuNcut
        from torch_geometric.data import Data

        model = NeuNcut(-1, 3).fit(Data(edge_index=data.edge_index, num_nodes=data.num_nodes), epochs=1, n_init=1,
                                   progress=False)
    fi = model.featureless_input_
    assert (fi.dim, fi.components, fi.shrinkage) == (6, 3, 0.5)
    assert neuncut_pyg.models.neuncut.FEATURELESS_SHRINKAGE == FEATURELESS_SHRINKAGE  # restored
