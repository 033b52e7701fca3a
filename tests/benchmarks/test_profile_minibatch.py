"""benchmarks/profile_minibatch.py: the stages it names are the functions a mini-batch fit runs."""
from __future__ import annotations

import cProfile
import pstats

import pytest
from conftest import load_benchmark

from neuncut_pyg.generators import planted_partition_graph
from neuncut_pyg.models import NeuNcut

pytestmark = [pytest.mark.filterwarnings("ignore:Sparse:UserWarning"), pytest.mark.usefixtures("one_torch_thread")]


def test_every_stage_is_found_in_a_gcn_fit():
    profile = load_benchmark("profile_minibatch")
    data = planted_partition_graph(600, 3, 10.0, mixing=0.2, num_features=8, feature_noise=1.0, seed=0)
    profiler = cProfile.Profile()
    profiler.enable()
    model = NeuNcut(8, 3).fit(data, batch_size=128, epochs=1, seed=0, progress=False)
    model.predict(data, batch_size=128)
    profiler.disable()
    rows = profile.stage_seconds(pstats.Stats(profiler).stats)
    assert [label for label, _, _ in rows] == [label for label, _, _ in profile.STAGES]
    # A renamed function would leave its stage at 0: every stage of a GCN mini-batch fit is found.
    assert all(seconds > 0 for _, _, seconds in rows), rows


def test_run_writes_the_tables_and_the_command(tmp_path):
    profile = load_benchmark("profile_minibatch")
    profile.main(["--encoders", "mlp", "--nodes", "400", "--communities", "3", "--features", "8", "--feature-noise",
                  "1", "--batch-size", "128", "--top", "4", "--out", str(tmp_path), "--name", "p"])
    text = (tmp_path / "p.md").read_text()
    assert '### `encoder="mlp"`' in text and "| `fit` |" in text and "| `predict` |" in text
    assert "The 4 functions with the most time of their own" in text
    assert "Command: `python benchmarks/profile_minibatch.py --encoders mlp" in text


def test_bad_sizes_are_a_clear_error(capsys):
    profile = load_benchmark("profile_minibatch")
    with pytest.raises(SystemExit):
        profile.main(["--nodes", "10", "--communities", "40"])
    assert "--nodes >= 2 * --communities" in capsys.readouterr().err
