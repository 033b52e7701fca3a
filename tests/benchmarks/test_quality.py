"""benchmarks/quality.py: its table formatting (fast) and a --quick end-to-end run (slow)."""
from __future__ import annotations

import importlib.util

import pytest

from conftest import REPO

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def load_quality():
    spec = importlib.util.spec_from_file_location("quality_benchmark", REPO / "benchmarks" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_format_markdown_table():
    quality = load_quality()
    full = {m: (0.5, 0.25) for m in quality.METRICS}
    full["seconds"] = (12.34, 0.5)
    full["k"] = (7.0, 0.0)
    results = {
        "Cora": {"NeuNcut (gcn)": full, "Louvain": {"NMI": (0.4471, 0.0), "k": (102.4, 1.2)}},
        "CiteSeer": {"NeuNcut (gcn)": full},
    }
    text = quality.format_markdown(results, seeds=5)
    lines = text.splitlines()
    assert lines[0] == "### Cora (5 seeds, mean ± std)"
    header = "| method | " + " | ".join(quality.METRICS) + " | k |"
    assert lines[2] == header
    assert lines[3] == "|---" + "|---:" * (len(quality.METRICS) + 1) + "|"
    row = lines[4].split(" | ")
    assert row[0] == "| NeuNcut (gcn)"
    assert row[1] == "0.500 ± 0.250"
    assert "12.3 ± 0.5" in lines[4]
    assert lines[4].endswith("| 7 |")
    # Missing metrics show as a dash; a non-integer mean k keeps a decimal.
    louvain = lines[5]
    assert louvain.startswith("| Louvain | 0.447 ± 0.000 | – |")
    assert louvain.endswith("| 102.4 |")
    assert "### CiteSeer (5 seeds, mean ± std)" in text
    assert text.endswith("\n") and not text.endswith("\n\n")
    # every table row has as many cells as the header
    for line in lines:
        if line.startswith("|"):
            assert line.count("|") == header.count("|")
    assert "(1 seed, mean ± std)" in quality.format_markdown({"Cora": {"x": full}}, seeds=1)


def test_summarize_mean_and_std():
    quality = load_quality()
    runs = [dict.fromkeys(quality.METRICS, 1.0), dict.fromkeys(quality.METRICS, 3.0)]
    summary = quality.summarize(runs)
    assert summary["NMI"] == (2.0, 1.0)
    assert "k" not in summary


def test_available_encoders_skips_unknown():
    quality = load_quality()
    assert quality.available_encoders(["gcn", "no-such-encoder"]) == ["gcn"]


@pytest.mark.slow
def test_quick_run_writes_table_and_chart(planetoid_root, tmp_path):
    quality = load_quality()
    out = tmp_path / "results"
    assert quality.main(["--quick", "--datasets", "cora", "--root", str(planetoid_root), "--out", str(out),
                         "--no-progress"]) == 0
    table = (out / "quality.md").read_text()
    for method in ("NeuNcut (gcn)", "NeuNcut (sage)", "k-means (features)", "spectral clustering",
                   "DMoN (PyG)", "MinCutPool (PyG)", "Louvain", quality.RANDOM_INIT_NAME, quality.SMOOTHED_SPECTRAL_NAME):
        assert f"| {method} |" in table
    assert (out / "quality.png").stat().st_size > 1000


def test_missing_data_exits_with_status_1(tmp_path, capsys):
    quality = load_quality()
    code = quality.main(["--quick", "--datasets", "cora", "--root", str(tmp_path), "--out", str(tmp_path / "o"),
                         "--no-progress"])
    assert code == 1
    assert "error:" in capsys.readouterr().err
