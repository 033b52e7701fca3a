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


# ------------------------------------------------------------------------------------------------
# MembershipCache: the neighbours' memberships read from a cache instead of the encoder
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def cached_graph():
    from neuncut_pyg.adjacency import symmetric_degrees, to_sparse_adjacency

    torch.manual_seed(3)
    probs = torch.full((3, 3), 0.03)
    probs.fill_diagonal_(0.2)
    edge_index = stochastic_blockmodel_graph([40, 40, 40], probs)
    weight = torch.rand(edge_index.size(1), dtype=torch.float64) + 0.5
    weight = (weight + weight[_reverse_edges(edge_index)]) / 2  # symmetric weights
    adj = to_sparse_adjacency(edge_index, weight.float(), num_nodes=120)
    theta = torch.randn(120, K, requires_grad=True)
    return adj, symmetric_degrees(adj), theta


def _reverse_edges(edge_index):
    """The position of each edge's reverse in an undirected edge_index."""
    key = edge_index[0] * 1000 + edge_index[1]
    reverse = edge_index[1] * 1000 + edge_index[0]
    order = key.argsort()
    return order[torch.searchsorted(key[order], reverse)]


@pytest.mark.parametrize("batch_size", [1, 17, 120])
def test_a_fresh_cache_gives_the_full_statistics_and_gradients_over_an_epoch(cached_graph, batch_size):
    from neuncut_pyg.sampling import MembershipCache

    adj, deg, theta = cached_graph
    s = theta.softmax(-1)
    full = ncut_statistics(s, adj)
    cache = MembershipCache(adj, deg)
    cache.reset(s)
    total = None
    for seeds in torch.randperm(120, generator=torch.Generator().manual_seed(0)).split(batch_size):
        total = add(total, cache.statistics(theta[seeds].softmax(-1), seeds))
    for got, want in zip(total, full):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    # The gradients too: the cached neighbours carry none, the seeds' terms make up for them.
    weights = [torch.randn(t.shape, generator=torch.Generator().manual_seed(i)) for i, t in enumerate(full)]
    grad = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, total)), theta)[0]
    want = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, full)), theta)[0]
    torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-5)


def test_the_cache_learns_the_seeds_and_scales_the_estimate(cached_graph):
    from neuncut_pyg.sampling import MembershipCache

    adj, deg, theta = cached_graph
    cache = MembershipCache(adj, deg)
    with pytest.raises(RuntimeError, match="reset"):
        cache.statistics(theta[:5].softmax(-1), torch.arange(5))
    stale = torch.full((120, K), 1.0 / K)
    cache.reset(stale)
    seeds = torch.tensor([3, 50, 99])
    fresh = theta[seeds].softmax(-1)
    half = cache.statistics(fresh, seeds, scale=2.0)
    torch.testing.assert_close(cache.values[seeds], fresh.detach())
    assert torch.equal(cache.values[:3], stale[:3])  # other rows untouched
    # The estimate reads the neighbours' cached (stale) values, scaled.
    neighbour_sum = adj.index_select(0, seeds).matmul(stale)
    want_cut = (fresh * (deg[seeds].unsqueeze(-1) * fresh - neighbour_sum)).sum(0)
    torch.testing.assert_close(half.cut_num.detach(), 2.0 * want_cut.detach())
