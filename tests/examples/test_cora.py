"""examples/cora.py: a quick run prints one table whose NeuNcut NMI keeps what its start found;
missing data is a clean error; the full run (slow) reaches the README's targets."""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import pytest
from conftest import REPO, load_example

from neuncut_pyg.data import load_planetoid
from neuncut_pyg.metrics import nmi, normalized_cut

SCRIPT = REPO / "examples" / "cora.py"
NUMBER = r"[-+]?(?:\d+\.\d+|nan|inf)"
CELL = rf"({NUMBER}) ± ({NUMBER})"
METRICS = ["NMI", "ACC", "ARI", "Ncut", "Modularity", "Conductance", "seconds"]

#: The acceptance bar of the full default run, means over 5 seeds: the README's targets (as in
#: tests/benchmarks/test_readme_claims.py, which checks one seed in the fast suite). Measured:
#: NMI 0.575 ± 0.004, ACC 0.740 ± 0.003 (examples/cora.py's docstring); spectral clustering 0.34.
MIN_DEFAULT_NMI = 0.55
MIN_DEFAULT_ACC = 0.70
#: How far below its own start's NMI the --quick run may end (measured: see the test).
QUICK_MARGIN_BELOW_START = 0.02


def run_example(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    env.pop("NEUNCUT_DATA", None)
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def parse_table(out: str) -> dict:
    """``{method: {metric: (mean, std)}}`` from the printed table."""
    header = re.search(r"^method\s+" + r"\s+".join(METRICS) + r"\s*$", out, re.M)
    assert header, out
    rows = {}
    for line in out[header.end():].strip().splitlines():
        cells = re.findall(CELL, line)
        if len(cells) != len(METRICS):
            break
        name = line[: line.index(re.search(NUMBER, line).group(0))].strip()
        rows[name] = {metric: (float(mean), float(std)) for metric, (mean, std) in zip(METRICS, cells)}
    return rows


def test_quick_run_prints_one_table_and_keeps_what_its_start_found(planetoid_root, tmp_path, capsys, monkeypatch):
    # In-process, so that the start partition of the fit can be read: the printed NeuNcut NMI
    # must be at least its own start's, less QUICK_MARGIN_BELOW_START (30 epochs of one run
    # fitted to the whole start move few nodes: measured, seed 0, NMI 0.5466 against its
    # start's 0.5475, Ncut 0.559 against 0.614), and above spectral clustering's.
    example = load_example("cora")
    starts = []
    fit = example.NeuNcut.fit

    def spy(self, *args, **kwargs):
        model = fit(self, *args, **kwargs)
        starts.append(model.init_clustering_.labels)
        return model

    monkeypatch.setattr(example.NeuNcut, "fit", spy)
    png = tmp_path / "cora.png"
    assert example.main(["--quick", "--root", str(planetoid_root), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    rows = parse_table(out)
    assert set(rows) == {"NeuNcut, 1 seed", "Spectral clustering"}, out
    for scores in rows.values():
        for metric, (mean, std) in scores.items():
            assert math.isfinite(mean) and math.isfinite(std), (metric, out)
        assert 0.0 < scores["Ncut"][0] < 7.0  # a 7-way normalized cut lies in [0, 7]
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    (start,) = starts
    data = load_planetoid("Cora", planetoid_root)
    neuncut_nmi, start_nmi = rows["NeuNcut, 1 seed"]["NMI"][0], nmi(data.y, start)
    assert start_nmi > 0.5, start_nmi  # the README's start: 0.548
    assert neuncut_nmi >= start_nmi - QUICK_MARGIN_BELOW_START, (neuncut_nmi, start_nmi, out)
    # What the 30 epochs do: lower the graph's Ncut below the start's (seed 0: 0.614 -> 0.559).
    assert rows["NeuNcut, 1 seed"]["Ncut"][0] < normalized_cut(start, data.edge_index) - 0.01, out
    assert neuncut_nmi > rows["Spectral clustering"]["NMI"][0] + 0.1, out  # README: 0.575 against 0.34


def test_missing_data_exits_with_the_message_and_no_traceback(tmp_path):
    result = run_example("--quick", "--root", str(tmp_path / "empty"), timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Planetoid dataset Cora not found" in result.stderr
    assert "ind.cora.graph" in result.stderr
    assert result.stderr.count("error:") == 1


def test_arguments(capsys):
    example = load_example("cora")
    for args in (["--seeds", "0"], ["--epochs", "0"], ["--n-init", "0"]):
        with pytest.raises(SystemExit):
            example.parse_args(args)
        assert "must be >= 1" in capsys.readouterr().err
    quick, full = example.parse_args(["--quick"]), example.parse_args([])
    assert (quick.seeds, quick.epochs, quick.n_init) == (1, 30, 1)
    assert (full.seeds, full.epochs, full.n_init) == (5, 300, 3)


@pytest.mark.slow
def test_default_run_reaches_the_nmi_bar(planetoid_root):
    result = run_example("--root", str(planetoid_root), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = parse_table(result.stdout)
    neuncut = rows["NeuNcut, 5 seeds"]
    assert neuncut["NMI"][0] >= MIN_DEFAULT_NMI, result.stdout
    assert neuncut["ACC"][0] >= MIN_DEFAULT_ACC, result.stdout
    assert neuncut["NMI"][0] > rows["Spectral clustering"]["NMI"][0], result.stdout
