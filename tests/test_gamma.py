"""The label-free orthogonality weight: its formula, what it guarantees, and what it prevents."""
from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.utils import stochastic_blockmodel_graph

from neuncut_pyg.gamma import auto_gamma, chance_ncut, collapse_loss, off_diagonal_share
from neuncut_pyg.generators import planted_partition_graph
from neuncut_pyg.loss import relaxed_ncut_loss
from neuncut_pyg.metrics import nmi, normalized_cut
from neuncut_pyg.models import NeuNcut

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def graph():
    torch.manual_seed(0)
    probs = torch.full((3, 3), 0.05)
    probs.fill_diagonal_(0.2)
    return stochastic_blockmodel_graph([50, 50, 50], probs)


@pytest.mark.parametrize("k", [2, 7, 40])
def test_auto_gamma_of_a_graph_without_self_loops(graph, k):
    assert off_diagonal_share(graph, num_nodes=150) == 1.0
    assert auto_gamma(k, graph, num_nodes=150) == pytest.approx(2 * k * math.sqrt(k - 1))


def test_collapse_costs_exactly_the_chance_partition_at_auto_gamma(graph):
    for k in (2, 5, 40):
        gamma = auto_gamma(k, graph, num_nodes=150)
        assert collapse_loss(k, gamma) == pytest.approx(chance_ncut(k, graph, num_nodes=150))
    # and collapse_loss is what the loss itself gives for one-cluster memberships
    s = torch.zeros(150, 5, dtype=torch.float64)
    s[:, 0] = 1.0
    out = relaxed_ncut_loss(s, graph, gamma=12.0)
    assert float(out.loss) == pytest.approx(collapse_loss(5, 12.0), rel=1e-9)


def test_chance_ncut_is_the_mean_ncut_of_random_partitions(graph):
    # With self-loops and weights, so that rho < 1 is exercised.
    weight = torch.rand(graph.size(1), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    loops = torch.arange(150).repeat(2, 1)
    edge_index = torch.cat([graph, loops], 1)
    weight = torch.cat([weight, torch.full((150,), 2.0, dtype=torch.float64)])
    rho = off_diagonal_share(edge_index, weight, num_nodes=150)
    assert 0.5 < rho < 1.0
    g = torch.Generator().manual_seed(2)
    k = 4
    draws = [normalized_cut(torch.randint(0, k, (150,), generator=g), edge_index, weight) for _ in range(400)]
    assert sum(draws) / len(draws) == pytest.approx(chance_ncut(k, edge_index, weight, num_nodes=150), rel=0.03)


def test_bad_input(graph):
    for k in (1, 0, 2.0, True):
        with pytest.raises(ValueError, match="num_clusters"):
            auto_gamma(k, graph, num_nodes=150)
    with pytest.raises(ValueError, match="no edges"):
        auto_gamma(3, torch.empty(2, 0, dtype=torch.long), num_nodes=10)


def test_auto_gamma_prevents_the_collapse_that_the_paper_constant_allows():
    # 20 communities, half of each node's edges outside: the paper's gamma=80 makes one cluster
    # cheaper than any real partition (collapse costs 80/2*sqrt(19)/20 = 8.7 against a cut near 10).
    data = planted_partition_graph(2000, 20, 20, mixing=0.5, num_features=32, feature_noise=3.0,
                                   size_exponent=0.0, seed=1)
    results = {}
    for gamma in (80.0, "auto"):
        model = NeuNcut(32, 20, encoder="mlp", gamma=gamma)
        model.fit(data, epochs=150, lr=1e-2, n_init=1, seed=0, progress=False)
        labels = model.predict(data)
        results[gamma] = (nmi(data.y, labels), int(labels.unique().numel()), model.loss_history_, model.kept_)
    # gamma=80: the run ends at the collapse's loss, with almost no cut left (a few nodes may
    # keep other argmax labels), and only the never-worse rule saves the fit: it keeps the start ...
    collapsed = results[80.0][2]
    assert collapsed.loss[-1] == pytest.approx(collapse_loss(20, 80.0), rel=0.01) and collapsed.cut[-1] < 0.05
    assert results[80.0][3] == "start"
    # ... while the automatic weight keeps all 20 communities.
    assert results["auto"][1] == 20 and results["auto"][0] > 0.85 and results["auto"][3] == "trained"
    assert model.gamma_ == pytest.approx(2 * 20 * math.sqrt(19))
