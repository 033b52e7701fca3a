"""benchmarks/scale.py and benchmarks/minibatch_statistics.py run end to end on tiny graphs."""
from __future__ import annotations

import importlib.util

import pytest
from conftest import REPO

pytestmark = [pytest.mark.filterwarnings("ignore:Sparse:UserWarning"), pytest.mark.usefixtures("one_torch_thread")]


def load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scale_table_compares_both_methods_on_one_graph(tmp_path, monkeypatch, capsys):
    scale = load_benchmark("scale")
    monkeypatch.setitem(scale.SIZES, "tiny", (600, 4, 12.0, 16))
    assert scale.main(["--sizes", "tiny", "--epochs", "5", "--batch-size", "200", "--num-neighbors", "5",
                       "--feature-noise", "1.0", "--quiet", "--plot", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "scale.md").read_text()
    assert "spectral clustering" in table and "NeuNcut (mlp" in table and "batches of 200" in table
    rows = [line for line in table.splitlines() if line.startswith("| ") and "method" not in line]
    assert len(rows) == 2
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        seconds, peak, _, nmi, ncut, clusters = map(float, cells[1:])
        assert seconds > 0 and peak > 0.1 and 0 <= nmi <= 1 and ncut >= 0 and 1 <= clusters <= 4
    assert (tmp_path / "scale.png").stat().st_size > 0


def test_peak_memory_sees_an_allocation():
    import numpy as np

    scale = load_benchmark("scale")
    with scale.PeakMemory() as memory:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        block += 1
        import time

        time.sleep(0.1)
    assert memory.peak - memory.before > 48 * 2**20
