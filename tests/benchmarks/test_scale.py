"""benchmarks/scale.py runs end to end on a tiny graph."""
from __future__ import annotations

import pytest
from conftest import load_benchmark

pytestmark = [pytest.mark.filterwarnings("ignore:Sparse:UserWarning"), pytest.mark.usefixtures("one_torch_thread")]


def test_scale_table_compares_every_method_on_one_graph(tmp_path, monkeypatch, capsys):
    scale = load_benchmark("scale")
    monkeypatch.setitem(scale.SIZES, "tiny", (600, 4, 12.0, 16))
    assert scale.main(["--sizes", "tiny", "--epochs", "5", "--batch-size", "200", "--feature-noise", "1.0",
                       "--mixing", "0.3", "--quiet", "--plot", "--in-process", "--out", str(tmp_path), "--name", "scale"]) == 0
    table = (tmp_path / "scale.md").read_text()
    assert "spectral clustering" in table and "the start alone" in table and "NeuNcut full batch (mlp" in table
    assert "NeuNcut mini-batch (gcn, defaults, batches of 200)" in table
    assert "Written by `python benchmarks/scale.py --sizes tiny" in table
    rows = [line for line in table.splitlines() if line.startswith("| ") and "method" not in line]
    assert len(rows) == len(scale.METHODS) - len(scale.OPTIONAL_METHODS)
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        seconds, peak, _, nmi, ncut, clusters = map(float, cells[1:7])
        assert seconds > 0 and peak > 0.1 and ncut >= 0 and 1 <= clusters <= 4
        # Every method finds the planted communities well above chance (measured: 0.68-0.97).
        assert nmi > 0.5, row
        if "NeuNcut" in row:
            assert int(cells[7]) >= 1 and float(cells[8]) > 0  # epochs run, seconds per epoch
    assert (tmp_path / "scale.png").stat().st_size > 0


def test_auto_k_row_names_the_k_it_chose(tmp_path, monkeypatch):
    scale = load_benchmark("scale")
    monkeypatch.setitem(scale.SIZES, "tiny", (600, 4, 12.0, 16))
    assert scale.main(["--sizes", "tiny", "--methods", "full-auto-k", "--epochs", "5", "--feature-noise", "1.0",
                       "--mixing", "0.2", "--quiet", "--in-process", "--out", str(tmp_path), "--name", "auto"]) == 0
    row = next(line for line in (tmp_path / "auto.md").read_text().splitlines() if "NeuNcut full batch" in line)
    # 4 planted communities at mixing 0.2: the Bethe-Hessian count finds them
    assert 'num_clusters="auto": k = 4)' in row, row


def test_peak_memory_sees_an_allocation():
    import mmap

    scale = load_benchmark("scale")
    size = 64 * 2**20
    with scale.PeakMemory() as memory:
        # A fresh anonymous mapping, every page written: resident whatever the allocator holds.
        block = mmap.mmap(-1, size)
        block.write(b"\x01" * size)
    block.close()
    assert memory.peak - memory.before > 48 * 2**20
