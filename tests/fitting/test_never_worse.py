"""Never worse than the start at its own objective (:func:`~neuncut_pyg.fitting.never_worse_than_start`):
the kept partition's discrete Ncut does not exceed the start's, and when the start is kept the
network follows it."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from neuncut_pyg.generators import planted_partition_graph
from neuncut_pyg.metrics import normalized_cut
from neuncut_pyg.models import NeuNcut

pytestmark = [pytest.mark.filterwarnings("ignore:Sparse:UserWarning"), pytest.mark.usefixtures("one_torch_thread")]

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def graph():
    g = planted_partition_graph(400, 5, 12.0, mixing=0.3, seed=0, num_features=0)
    return g, Data(edge_index=g.edge_index, num_nodes=400)


def test_a_ruined_training_keeps_the_start(graph):
    # One step at a huge learning rate right after the start: training can only make it worse.
    g, data = graph
    kept = 0
    for seed in SEEDS:
        model = NeuNcut(-1, 5, hidden_channels=32).fit(data, epochs=1, lr=5.0, n_init=1, seed=seed, progress=False)
        start = torch.from_numpy(model.init_clustering_.labels)
        assert model.start_ncut_ == pytest.approx(normalized_cut(start, g.edge_index, num_clusters=5))
        assert model.ncut_ == pytest.approx(normalized_cut(model.labels_, g.edge_index, num_clusters=5))
        assert model.ncut_ <= model.start_ncut_ + 1e-12
        if model.kept_ == "start":
            kept += 1
            assert torch.equal(model.labels_, start)
            # The network was fitted to the start: predictions follow what was kept.
            assert (model.predict(data) == start).float().mean() > 0.9
    assert kept >= 2


def test_a_good_training_is_kept_and_scored(graph):
    g, data = graph
    for seed in SEEDS:
        model = NeuNcut(-1, 5, hidden_channels=32).fit(data, epochs=60, lr=1e-2, n_init=1, seed=seed, progress=False)
        assert model.ncut_ <= model.start_ncut_ + 1e-12 and model.kept_ in ("trained", "start")
        if model.kept_ == "trained":
            assert torch.equal(model.predict(data), model.labels_)


def test_without_a_start_nothing_is_compared(three_blocks):
    model = NeuNcut(8, 3, hidden_channels=16).fit(three_blocks, epochs=20, lr=1e-2, n_init=1, seed=0,
                                                  progress=False, init="random")
    assert model.kept_ == "trained" and model.start_ncut_ is None and model.ncut_ >= 0
