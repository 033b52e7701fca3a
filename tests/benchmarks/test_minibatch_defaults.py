"""benchmarks/minibatch_defaults.py runs end to end on a small graph."""
from __future__ import annotations

import pytest

from conftest import load_benchmark

pytestmark = [pytest.mark.filterwarnings("ignore:Sparse:UserWarning"), pytest.mark.usefixtures("one_torch_thread")]


def test_minibatch_defaults_table_has_the_start_and_every_setting(tmp_path):
    grid = load_benchmark("minibatch_defaults")
    assert grid.main(["--nodes", "1500", "--communities", "4", "--batch-size", "500", "--epochs", "1", "2",
                      "--lrs", "1e-2", "--dropouts", "0", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "minibatch_defaults.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "method" not in line]
    assert len(rows) == 3 and rows[0].startswith("| the start alone")
    for row in rows[1:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        loss, score, ncut = float(cells[4]), float(cells[5]), float(cells[6])
        assert loss > 0 and 0 <= ncut <= 4 and 0 <= score <= 1  # k = 4: Ncut at most k
    assert "Written by `python benchmarks/minibatch_defaults.py --nodes 1500" in table
