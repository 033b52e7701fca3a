"""Mini-batch estimates of the full-graph normalized-cut statistics from NeighborLoader batches."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader
from torch_geometric.utils import degree, stochastic_blockmodel_graph, to_undirected

from neuncut_pyg import NcutStatistics, ncut_loss_from_statistics, ncut_statistics
from neuncut_pyg.sampling import estimate_ncut_statistics, seed_ncut_statistics

N, K = 300, 4


@pytest.fixture(scope="module")
def graph():
    torch.manual_seed(0)
    probs = torch.full((3, 3), 0.02)
    probs.fill_diagonal_(0.15)
    edge_index = stochastic_blockmodel_graph([100, 100, 100], probs)
    data = Data(edge_index=edge_index, num_nodes=N)
    data.deg = degree(edge_index[0], N, dtype=torch.float64)
    data.x = torch.arange(N).unsqueeze(-1)  # node ids travel with the batch
    # A fixed "model": memberships that do not depend on the sampled neighbourhood.
    s = torch.randn(N, K, generator=torch.Generator().manual_seed(1), dtype=torch.float64).mul(2).softmax(-1)
    return data, s


def batch_statistics(batch, s, scale=False):
    s_batch = s[batch.n_id]
    if scale:
        return estimate_ncut_statistics(s_batch, batch.edge_index, batch.batch_size, batch.deg, N)
    return seed_ncut_statistics(s_batch, batch.edge_index, batch.batch_size, batch.deg)


def add(a, b):
    return b if a is None else NcutStatistics(*(x + y for x, y in zip(a, b)))


def test_full_neighbourhoods_sum_to_the_full_graph_statistics(graph):
    data, s = graph
    loader = NeighborLoader(data, num_neighbors=[-1, 3], batch_size=64, shuffle=True)
    total = None
    for batch in loader:
        total = add(total, batch_statistics(batch, s))
    full = ncut_statistics(s, data.edge_index)
    for got, want in zip(total, full):
        assert torch.allclose(got, want, rtol=1e-10, atol=1e-10)
    assert torch.allclose(ncut_loss_from_statistics(total).loss, ncut_loss_from_statistics(full).loss)


def test_sampled_batch_estimates_are_unbiased(graph):
    # Fan-out 5 of degrees ~20: each batch's estimate is noisy, their average is on target.
    data, s = graph
    full = ncut_statistics(s, data.edge_index)
    torch.manual_seed(0)
    loader = NeighborLoader(data, num_neighbors=[5], batch_size=50, shuffle=True)
    estimates = [batch_statistics(batch, s, scale=True) for _ in range(40) for batch in loader]
    mean = NcutStatistics(*(torch.stack(parts).mean(0) for parts in zip(*estimates)))
    assert torch.allclose(mean.vol, full.vol, rtol=1e-10)  # volumes only use the seeds' own degrees
    assert torch.allclose(mean.gram, full.gram, rtol=1e-10)
    assert torch.allclose(mean.cut_num, full.cut_num, rtol=0.02)
    # One batch alone is off by more: the average is doing the work, not a loose tolerance.
    single = (estimates[0].cut_num - full.cut_num).abs().max() / full.cut_num.abs().max()
    assert single > 0.02


def test_weighted_edges_use_neighbour_counts(graph):
    data, s = graph
    weight = torch.rand(data.edge_index.size(1), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    edge_index, weight = to_undirected(data.edge_index, weight, num_nodes=N)  # w_uv = w_vu
    weighted = Data(edge_index=edge_index, edge_weight=weight, num_nodes=N)
    weighted.deg = torch.zeros(N, dtype=torch.float64).index_add_(0, edge_index[0], weight)
    weighted.count = data.deg
    loader = NeighborLoader(weighted, num_neighbors=[-1], batch_size=100, shuffle=False)
    total = None
    for b in loader:
        total = add(total, seed_ncut_statistics(s[b.n_id], b.edge_index, b.batch_size, b.deg,
                                                edge_weight=b.edge_weight, num_neighbors=b.count))
    full = ncut_statistics(s, edge_index, weight)
    for got, want in zip(total, full):
        assert torch.allclose(got, want, rtol=1e-10)


def test_bad_batch_arguments_raise():
    s = torch.rand(5, 2)
    ei = torch.tensor([[1, 2], [0, 0]])
    with pytest.raises(ValueError, match="batch_size"):
        seed_ncut_statistics(s, ei, 0, torch.ones(5))
    with pytest.raises(ValueError, match="batch_size"):
        seed_ncut_statistics(s, ei, 6, torch.ones(5))
    with pytest.raises(ValueError, match="full-graph degree"):
        seed_ncut_statistics(s, ei, 2, torch.ones(4))
    with pytest.raises(ValueError, match="num_neighbors"):
        seed_ncut_statistics(s, ei, 2, torch.ones(5), num_neighbors=torch.ones(3))
