"""benchmarks/featureless.py: a --quick run at another size writes its own file, whole, with the
command under it; the rows are real scores of the planted graph."""
from __future__ import annotations

import re

import pytest
from conftest import load_benchmark


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_quick_run_at_another_size_writes_its_own_file(tmp_path):
    featureless = load_benchmark("featureless")
    out = tmp_path / "results"
    argv = ["--quick", "--nodes", "600", "--no-before", "--root", str(tmp_path / "no-data"), "--out", str(out)]
    assert featureless.main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["featureless_quick_600.md"]
    text = (out / "featureless_quick_600.md").read_text()
    assert "N=600, k=28" in text
    assert "python benchmarks/featureless.py --quick --nodes 600 --no-before" in text
    assert featureless.METHODS[0] not in text  # --no-before leaves the old path out
    rows = {m: re.search(rf"\| {re.escape(m)} \| ([0-9.]+) \| ([0-9.]+) \|", text) for m in featureless.METHODS[1:4]}
    assert all(rows.values()), text
    for match in rows.values():
        assert 0.0 <= float(match.group(1)) <= 1.0 and float(match.group(2)) >= 0.0
    # mixing 0.3 with 28 planted communities: the graph's own start finds them (far above chance)
    assert float(rows[featureless.METHODS[2]].group(1)) > 0.5


def test_too_few_nodes_is_a_clear_error(capsys):
    featureless = load_benchmark("featureless")
    with pytest.raises(SystemExit):
        featureless.main(["--nodes", "50"])
    assert "--nodes must be at least 280" in capsys.readouterr().err
