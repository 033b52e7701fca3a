"""benchmarks/ablations.py: its levers reach the fit, its tables, and a --quick run (slow)."""
from __future__ import annotations

import pytest

import neuncut_pyg.fitting.restarts
import neuncut_pyg.models.neuncut
import neuncut_pyg.start.smoothed
from neuncut_pyg.generators import planted_partition_graph
from conftest import load_benchmark


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny():
    return planted_partition_graph(90, 3, 8.0, mixing=0.2, num_features=8, feature_noise=1.0, seed=0)


@pytest.fixture
def short_distillation(monkeypatch):
    # The core runs' 200 cross-entropy steps are the point of the real run, not of this smoke test.
    monkeypatch.setattr(neuncut_pyg.fitting.restarts, "DISTILL_CORE_STEPS", 5)
    monkeypatch.setattr(neuncut_pyg.fitting.restarts, "DISTILL_STEPS", 5)


def variant(ablations, name_part):
    return next(v for v in ablations.VARIANTS if name_part in v.name)


def test_patched_sets_and_restores_the_levers():
    ablations = load_benchmark("ablations")
    shrink, restarts = neuncut_pyg.models.neuncut.CORE_SHRINK, neuncut_pyg.start.smoothed.START_KMEANS_RESTARTS
    with ablations.patched({"neuncut_pyg.models.neuncut:CORE_SHRINK": 1.0,
                            "neuncut_pyg.start.smoothed:START_KMEANS_RESTARTS": 10}):
        assert neuncut_pyg.models.neuncut.CORE_SHRINK == 1.0
        assert neuncut_pyg.start.smoothed.START_KMEANS_RESTARTS == 10
    assert neuncut_pyg.models.neuncut.CORE_SHRINK == shrink
    assert neuncut_pyg.start.smoothed.START_KMEANS_RESTARTS == restarts
    with pytest.raises(AttributeError, match="lever moved"):
        with ablations.patched({"neuncut_pyg.start.smoothed:NO_SUCH_CONSTANT": 1}):
            pass


def test_core_schedule_lever_reaches_the_fit(tiny, short_distillation):
    ablations = load_benchmark("ablations")
    settings = {"epochs": 2, "n_init": 2}
    default = ablations.run_variant(ablations.VARIANTS[0], tiny, 3, 0, settings)
    whole = ablations.run_variant(variant(ablations, "whole start"), tiny, 3, 0, settings)
    assert default["fractions"] == [1.0, 0.5]
    assert whole["fractions"] == [1.0, 1.0]
    for r in (default, whole):
        assert len(r["run_losses"]) == 2 and r["loss"] == min(r["run_losses"])
        assert r["kept"] in (1, 2) and r["depth"] is not None and 0.0 <= r["NMI"] <= 1.0
    random_start = ablations.run_variant(variant(ablations, "random"), tiny, 3, 0, settings)
    assert random_start["fractions"] is None and random_start["depth"] is None


def test_kmeans_restarts_lever_reaches_the_start(tiny, short_distillation, monkeypatch):
    ablations = load_benchmark("ablations")
    seen = []
    original = neuncut_pyg.start.smoothed.smoothed_feature_clustering

    def spy(*args, **kwargs):
        seen.append(kwargs["n_init"])
        return original(*args, **kwargs)

    monkeypatch.setattr(neuncut_pyg.start.smoothed, "smoothed_feature_clustering", spy)
    for part in ("1 k-means", "10 k-means"):
        ablations.run_variant(variant(ablations, part), tiny, 3, 0, {"epochs": 1, "n_init": 1})
    assert seen == [1, 10]


def test_tables_hold_every_variant_and_the_command():
    ablations = load_benchmark("ablations")
    run = {"seed": 0, "NMI": 0.5, "ACC": 0.6, "Ncut": 0.7, "loss": 0.4, "run_losses": [0.5, 0.45, 0.4],
           "fractions": [1.0, 0.5, 0.25], "kept": 3, "depth": 7, "seconds": 12.0}
    results = {v.name: [dict(run), dict(run, seed=1, depth=8, kept=1)] for v in ablations.VARIANTS}
    text = ablations.format_markdown({"Cora": results}, "python benchmarks/ablations.py", {"epochs": 300, "n_init": 3})
    assert "### Cora (2 seeds, mean ± std)" in text
    assert text.count("Command: `python benchmarks/ablations.py`") == 1
    for v in ablations.VARIANTS:
        assert f"| {v.ablation} | {v.name} | 0.500 ± 0.000 |" in text
    assert "0.500 / 0.450 / 0.400 (fitted to 1, 1/2, 1/4)" in text
    assert "run 1: 1x, run 3: 1x" in text and "7 (1x), 8 (1x)" in text
    header = next(line for line in text.splitlines() if line.startswith("| ablation"))
    for line in text.splitlines():
        if line.startswith("| ") and "| reference |" in line:
            assert line.count("|") == header.count("|")


def test_missing_data_exits_with_status_1(tmp_path, capsys):
    ablations = load_benchmark("ablations")
    assert ablations.main(["--datasets", "cora", "--root", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert "error:" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_run_writes_the_table(tmp_path):
    ablations = load_benchmark("ablations")
    out = tmp_path / "results"
    # No Planetoid files under this root: --quick falls back to the small planted graph.
    assert ablations.main(["--quick", "--root", str(tmp_path / "empty"), "--out", str(out)]) == 0
    text = (out / "ablations.md").read_text()
    assert "### planted" in text and "Command: `python benchmarks/ablations.py --quick" in text
    for v in ablations.VARIANTS:
        assert v.name in text
    assert sorted(p.name for p in out.iterdir()) == ["ablations.md"]


def test_datasets_picked_by_name_write_their_own_file(tmp_path, monkeypatch):
    ablations = load_benchmark("ablations")
    run = {"seed": 0, "NMI": 0.5, "ACC": 0.6, "Ncut": 0.7, "loss": 0.4, "run_losses": [0.5, 0.45, 0.4],
           "fractions": [1.0, 0.5, 0.25], "kept": 3, "depth": 7, "seconds": 12.0}
    monkeypatch.setattr(ablations, "load", lambda name, root: ("CiteSeer", planted_partition_graph(
        60, 3, 6.0, num_features=4, seed=0)))
    monkeypatch.setattr(ablations, "run_dataset", lambda data, settings, seeds, on_result, log: {
        v.name: [dict(run)] for v in ablations.VARIANTS})
    out = tmp_path / "results"
    assert ablations.main(["--datasets", "citeseer", "--seeds", "1", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["ablations_citeseer.md"]
    assert "Command: `python benchmarks/ablations.py --datasets citeseer --seeds 1 --out" in (
        out / "ablations_citeseer.md").read_text()
