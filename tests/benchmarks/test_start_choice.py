"""benchmarks/start_choice.py: both starts scored on each graph, the rule's choice and its NMI
change computed from those scores, the command under the table."""
from __future__ import annotations

import re

import pytest
from conftest import load_benchmark


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_rule_keeps_the_lower_ncut_and_reports_its_nmi_change():
    bench = load_benchmark("start_choice")
    rows = [{"name": "a", "k": 3, "smoothed features": {"NMI": 0.6, "Ncut": 1.0, "seconds": 1.0},
             "graph": {"NMI": 0.5, "Ncut": 0.9, "seconds": 0.5}},
            {"name": "b", "k": 4, "smoothed features": {"NMI": 0.7, "Ncut": 1.0, "seconds": 1.0},
             "graph": {"NMI": 0.8, "Ncut": 1.2, "seconds": 0.5}}]
    text = bench.format_markdown(rows, "python benchmarks/start_choice.py")
    assert "| a | 3 | 0.600 | 1.000 | 0.500 | 0.900 | graph | no | -0.100 |" in text
    assert "| b | 4 | 0.700 | 1.000 | 0.800 | 1.200 | smoothed features | no | +0.000 |" in text
    assert "graph start on 1 of 2 graphs; mean NMI change against always the smoothed-feature start: -0.050" in text
    assert text.rstrip().endswith("Command: `python benchmarks/start_choice.py`")


def test_quick_run_scores_both_starts(tmp_path):
    bench = load_benchmark("start_choice")
    out = tmp_path / "results"
    assert bench.main(["--quick", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["start_choice_quick.md"]
    rows = re.findall(r"^\| planted [^|]+ \| \d+ \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \|",
                      (out / "start_choice_quick.md").read_text(), flags=re.M)
    assert len(rows) == 2
    for values in rows:
        nmi_s, ncut_s, nmi_g, ncut_g = map(float, values)
        assert 0.2 < nmi_s <= 1.0 and 0.2 < nmi_g <= 1.0  # both starts find the planted blocks (chance is ~0)
        assert ncut_s > 0 and ncut_g > 0
