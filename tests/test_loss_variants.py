"""The ratio cut and soft modularity variants of the loss against their dense definitions."""
from __future__ import annotations

import math

import networkx as nx
import pytest
import torch
from torch_geometric.utils import erdos_renyi_graph, to_dense_adj, to_undirected
from torch_sparse import SparseTensor

from neuncut_pyg import (
    ModularityLossOutput,
    NcutStatistics,
    modularity_loss_from_statistics,
    ncut_loss_from_statistics,
    ncut_statistics,
    relaxed_modularity_loss,
    relaxed_ncut_loss,
    relaxed_ratio_cut_loss,
)
from neuncut_pyg.metrics import modularity as modularity_metric

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TOL = dict(rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# Dense float64 references
# ---------------------------------------------------------------------------------------------
def dense_ratio_cut(s, w, gamma):
    """sum_j s_j^T L s_j / 1^T s_j and ||H^T H - I||_F / k with H = S diag(1^T S)^-1/2."""
    w = 0.5 * (w + w.t())
    lap = torch.diag(w.sum(1)) - w
    counts = s.sum(0)
    h = s / counts.sqrt()
    k = s.size(1)
    cut = torch.trace(h.t() @ lap @ h)
    orth = torch.linalg.norm(h.t() @ h - torch.eye(k, dtype=s.dtype)) / k
    return cut + gamma / 2 * orth, cut, orth


def dense_ncut(s, w, gamma):
    """sum_j s_j^T L s_j / d^T s_j and ||H^T D H - I||_F / k with H = S diag(d^T S)^-1/2."""
    w = 0.5 * (w + w.t())
    d = w.sum(1)
    lap = torch.diag(d) - w
    h = s / (d @ s).sqrt()
    k = s.size(1)
    cut = torch.trace(h.t() @ lap @ h)
    orth = torch.linalg.norm(h.t() @ torch.diag(d) @ h - torch.eye(k, dtype=s.dtype)) / k
    return cut + gamma / 2 * orth, cut, orth


def dense_modularity(s, w, collapse_weight, collapse="volume"):
    """DMoN: Q = tr(S^T B S) / 2m with B = W - d d^T / 2m, plus the collapse regularizer."""
    w = 0.5 * (w + w.t())
    d = w.sum(1)
    two_m = d.sum()
    b = w - torch.outer(d, d) / two_m
    q = torch.trace(s.t() @ b @ s) / two_m
    k = s.size(1)
    if collapse == "size":
        reg = math.sqrt(k) / s.size(0) * torch.linalg.norm(s.sum(0)) - 1
    else:
        reg = math.sqrt(k) / two_m * torch.linalg.norm(d @ s) - 1
    return -q + collapse_weight * reg, q, reg


def random_graph(n=40, p=0.15, seed=0, weighted=True):
    torch.manual_seed(seed)
    edge_index = erdos_renyi_graph(n, p)
    if not weighted:
        return to_undirected(edge_index, num_nodes=n), None
    g = torch.Generator().manual_seed(seed)
    weight = torch.rand(edge_index.size(1), generator=g, dtype=torch.float64) + 0.1
    return to_undirected(edge_index, weight, num_nodes=n)


def memberships(n, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g, dtype=torch.float64).mul(2).requires_grad_()
    return logits, logits.softmax(-1)


def grad_of(value, wrt):
    (grad,) = torch.autograd.grad(value, wrt, retain_graph=True)
    return grad


# ---------------------------------------------------------------------------------------------
# Ratio cut
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("form", ["edge_index", "SparseTensor"])
def test_ratio_cut_matches_dense_value_and_gradient(weighted, form):
    n, k, gamma = 40, 4, 20.0
    edge_index, weight = random_graph(n, weighted=weighted)
    dense = to_dense_adj(edge_index, edge_attr=weight, max_num_nodes=n)[0].double()
    logits, s = memberships(n, k)
    if form == "SparseTensor":
        adj = (SparseTensor(row=edge_index[0], col=edge_index[1], value=weight, sparse_sizes=(n, n)), None)
    else:
        adj = (edge_index, weight)
    out = relaxed_ratio_cut_loss(s, *adj, gamma=gamma)
    ref = dense_ratio_cut(s, dense, gamma)
    for got, want in zip(out, ref):
        torch.testing.assert_close(got, want, **TOL)
    torch.testing.assert_close(grad_of(out.loss, logits), grad_of(ref[0], logits), **TOL)


def test_ratio_cut_is_ncut_loss_of_unit_node_weight_statistics():
    n, k = 30, 3
    edge_index, weight = random_graph(n, seed=1)
    _, s = memberships(n, k, seed=1)
    stats = ncut_statistics(s, edge_index, weight, node_weight=torch.ones(n, dtype=torch.float64))
    torch.testing.assert_close(stats.vol, s.sum(0), **TOL)
    torch.testing.assert_close(stats.gram, s.t() @ s, **TOL)
    direct = relaxed_ratio_cut_loss(s, edge_index, weight, gamma=7.0)
    for got, want in zip(ncut_loss_from_statistics(stats, 7.0), direct):
        torch.testing.assert_close(got, want, **TOL)


def test_node_weight_none_is_the_degree():
    n, k = 30, 3
    edge_index, weight = random_graph(n, seed=2)
    _, s = memberships(n, k, seed=2)
    deg = torch.zeros(n, dtype=torch.float64).index_add_(0, edge_index[0], weight)
    default = ncut_statistics(s, edge_index, weight)
    explicit = ncut_statistics(s, edge_index, weight, node_weight=deg)
    for got, want in zip(explicit, default):
        torch.testing.assert_close(got, want, **TOL)


def test_one_hot_ratio_cut_is_discrete_ratio_cut():
    n, k = 50, 5
    edge_index, weight = random_graph(n, p=0.1, seed=3)
    labels = torch.arange(n) % k
    s = torch.nn.functional.one_hot(labels, k).double()
    out = relaxed_ratio_cut_loss(s, edge_index, weight)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    for (u, v), w in zip(edge_index.t().tolist(), weight.tolist()):
        g.add_edge(u, v, weight=w)
    expected = sum(nx.cut_size(g, [i for i in range(n) if labels[i] == j], weight="weight") / int((labels == j).sum())
                   for j in range(k))
    assert float(out.cut) == pytest.approx(expected, rel=1e-12)
    assert float(out.orth) == pytest.approx(0.0, abs=1e-12)


def test_ratio_cut_batched_statistics_per_graph():
    """With ``batch``, node weights give per-graph counts: each graph's loss as if alone."""
    n, k = 20, 3
    e1, w1 = random_graph(n, seed=4)
    e2, w2 = random_graph(n, seed=5)
    _, s = memberships(2 * n, k, seed=4)
    edge_index = torch.cat([e1, e2 + n], 1)
    weight = torch.cat([w1, w2])
    batch = torch.arange(2).repeat_interleave(n)
    stats = ncut_statistics(s, edge_index, weight, batch=batch, node_weight=torch.ones(2 * n, dtype=torch.float64))
    batched = ncut_loss_from_statistics(stats, 10.0)
    for b, (e, w) in enumerate([(e1, w1), (e2, w2)]):
        alone = relaxed_ratio_cut_loss(s[b * n:(b + 1) * n], e, w, gamma=10.0)
        torch.testing.assert_close(batched.loss[b], alone.loss, **TOL)


# ---------------------------------------------------------------------------------------------
# Modularity
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("collapse", ["volume", "size"])
@pytest.mark.parametrize("weighted", [True, False])
def test_modularity_matches_dense_value_and_gradient(collapse, weighted):
    n, k, cw = 40, 4, 0.7
    edge_index, weight = random_graph(n, weighted=weighted, seed=6)
    dense = to_dense_adj(edge_index, edge_attr=weight, max_num_nodes=n)[0].double()
    logits, s = memberships(n, k, seed=6)
    out = relaxed_modularity_loss(s, edge_index, weight, collapse_weight=cw, collapse=collapse)
    assert isinstance(out, ModularityLossOutput)
    ref = dense_modularity(s, dense, cw, collapse)
    for got, want in zip(out, ref):
        torch.testing.assert_close(got, want, **TOL)
    torch.testing.assert_close(grad_of(out.loss, logits), grad_of(ref[0], logits), **TOL)


def test_modularity_of_directed_edges_is_that_of_the_symmetrization():
    n, k = 30, 3
    edge_index = erdos_renyi_graph(n, 0.2, directed=True)
    dense = to_dense_adj(edge_index, max_num_nodes=n)[0].double()
    _, s = memberships(n, k, seed=7)
    out = relaxed_modularity_loss(s, edge_index)
    ref = dense_modularity(s, dense, 1.0)
    torch.testing.assert_close(out.modularity, ref[1], **TOL)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_hot_modularity_is_networkx_modularity(seed):
    n, k = 60, 4
    edge_index, weight = random_graph(n, p=0.1, seed=seed)
    labels = torch.randint(0, k, (n,), generator=torch.Generator().manual_seed(seed))
    s = torch.nn.functional.one_hot(labels, k).double()
    out = relaxed_modularity_loss(s, edge_index, weight)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    for (u, v), w in zip(edge_index.t().tolist(), weight.tolist()):
        g.add_edge(u, v, weight=w)
    communities = [{i for i in range(n) if labels[i] == j} for j in range(k)]
    communities = [c for c in communities if c]
    expected = nx.community.modularity(g, communities, weight="weight")
    assert float(out.modularity) == pytest.approx(expected, rel=1e-10, abs=1e-12)
    assert float(out.modularity) == pytest.approx(modularity_metric(labels, edge_index, weight), rel=1e-10, abs=1e-12)


def test_collapse_regularizer_range():
    """0 for equal volumes, sqrt(k) - 1 when everything sits in one cluster."""
    n, k = 8, 4
    ring = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
    ring = to_undirected(ring, num_nodes=n)  # 2-regular: equal degrees
    balanced = torch.nn.functional.one_hot(torch.arange(n) % k, k).double()
    assert float(relaxed_modularity_loss(balanced, ring).collapse) == pytest.approx(0.0, abs=1e-12)
    collapsed = torch.nn.functional.one_hot(torch.zeros(n, dtype=torch.long), k).double()
    out = relaxed_modularity_loss(collapsed, ring, collapse_weight=2.0)
    assert float(out.collapse) == pytest.approx(math.sqrt(k) - 1, rel=1e-12)
    assert float(out.modularity) == pytest.approx(0.0, abs=1e-12)
    assert float(out.loss) == pytest.approx(2.0 * (math.sqrt(k) - 1), rel=1e-12)


def test_modularity_from_batched_statistics():
    n, k = 20, 3
    e1, w1 = random_graph(n, seed=8)
    e2, w2 = random_graph(n, seed=9)
    _, s = memberships(2 * n, k, seed=8)
    stats = ncut_statistics(s, torch.cat([e1, e2 + n], 1), torch.cat([w1, w2]),
                            batch=torch.arange(2).repeat_interleave(n))
    batched = modularity_loss_from_statistics(stats, 0.5)
    assert batched.loss.shape == (2,)
    for b, (e, w) in enumerate([(e1, w1), (e2, w2)]):
        alone = relaxed_modularity_loss(s[b * n:(b + 1) * n], e, w, collapse_weight=0.5)
        for got, want in zip(batched, alone):
            torch.testing.assert_close(got[b], want, **TOL)


# ---------------------------------------------------------------------------------------------
# Statistics of disjoint node subsets add up, for both variants
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["ratio", "modularity"])
def test_statistics_of_disjoint_subsets_add_up(variant):
    """The mini-batch / distributed path: each part of a node partition calls ncut_statistics
    with its nodes' rows of W (the edges leaving them), the full graph's degrees restricted to it
    (``deg=``) and its node weights (zero elsewhere); the parts' sums are the full statistics,
    and the loss formed from them is the full-graph loss."""
    n, k = 40, 4
    edge_index, weight = random_graph(n, seed=10)
    _, s = memberships(n, k, seed=10)
    deg = torch.zeros(n, dtype=torch.float64).index_add_(0, edge_index[0], weight)
    node_weight = torch.ones(n, dtype=torch.float64) if variant == "ratio" else None
    full = ncut_statistics(s, edge_index, weight, node_weight=node_weight)

    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    total = None
    for nodes in (perm[:13], perm[13:29], perm[29:]):
        inside = torch.zeros(n, dtype=torch.double)
        inside[nodes] = 1.0
        keep = inside[edge_index[0]].bool()
        part = ncut_statistics(s, edge_index[:, keep], weight[keep], deg=deg * inside,
                               node_weight=(node_weight if node_weight is not None else deg) * inside)
        total = part if total is None else NcutStatistics(*(a + b for a, b in zip(total, part)))
    for got, want in zip(total, full):
        torch.testing.assert_close(got, want, **TOL)
    if variant == "ratio":
        torch.testing.assert_close(ncut_loss_from_statistics(total, 5.0).loss,
                                   relaxed_ratio_cut_loss(s, edge_index, weight, gamma=5.0).loss, **TOL)
    else:
        for got, want in zip(modularity_loss_from_statistics(total), relaxed_modularity_loss(s, edge_index, weight)):
            torch.testing.assert_close(got, want, **TOL)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------
def _graph_and_s():
    edge_index, weight = random_graph(10, p=0.4, seed=12)
    _, s = memberships(10, 3, seed=12)
    return edge_index, weight, s.detach()


@pytest.mark.parametrize("fn", [relaxed_ratio_cut_loss, relaxed_modularity_loss])
def test_bad_memberships_raise(fn):
    edge_index, weight, s = _graph_and_s()
    with pytest.raises(ValueError, match="at least 2 clusters"):
        fn(s[:, :1], edge_index, weight)
    with pytest.raises(ValueError, match="k <= N"):
        fn(torch.full((2, 3), 1 / 3, dtype=torch.float64), torch.tensor([[0], [1]]))
    bad = s.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fn(bad, edge_index, weight)
    with pytest.raises(ValueError, match="2-D"):
        fn(s[0], edge_index, weight)
    with pytest.raises(ValueError, match="out|indices"):
        fn(s, edge_index + 100, weight)
    with pytest.raises(ValueError, match="non-negative"):
        fn(s, edge_index, -weight)


def test_bad_options_raise():
    edge_index, weight, s = _graph_and_s()
    with pytest.raises(ValueError, match="gamma"):
        relaxed_ratio_cut_loss(s, edge_index, weight, gamma=-1.0)
    with pytest.raises(ValueError, match="collapse_weight"):
        relaxed_modularity_loss(s, edge_index, weight, collapse_weight=-0.1)
    with pytest.raises(ValueError, match="collapse_weight"):
        relaxed_modularity_loss(s, edge_index, weight, collapse_weight=float("nan"))
    with pytest.raises(ValueError, match="collapse must be"):
        relaxed_modularity_loss(s, edge_index, weight, collapse="dmon")
    with pytest.raises(ValueError, match="no edges"):
        relaxed_modularity_loss(s, torch.empty(2, 0, dtype=torch.long))
    stats = ncut_statistics(s, edge_index, weight)
    with pytest.raises(ValueError, match="cluster_sizes"):
        modularity_loss_from_statistics(stats, cluster_sizes=torch.ones(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="collapse_weight"):
        modularity_loss_from_statistics(stats, collapse_weight=float("inf"))


@pytest.mark.parametrize("node_weight, match", [
    (torch.ones(9), "shape"),
    (torch.ones(10, 1), "shape"),
    (-torch.ones(10), "non-negative"),
    (torch.full((10,), float("inf")), "NaN or infinite"),
    (torch.ones(10, dtype=torch.bool), "real numbers"),
])
def test_bad_node_weight_raises(node_weight, match):
    edge_index, weight, s = _graph_and_s()
    with pytest.raises(ValueError, match=match):
        ncut_statistics(s, edge_index, weight, node_weight=node_weight)


@pytest.mark.parametrize("weighted", [True, False])
def test_ncut_loss_with_the_default_node_weight_is_the_dense_ncut(weighted):
    # node_weight=None must leave the normalized cut itself: degrees as volumes, checked against
    # the dense formula (value and gradient), not against the statistics it is computed from.
    n, k, gamma = 40, 4, 40.0
    edge_index, weight = random_graph(n, seed=6, weighted=weighted)
    dense = to_dense_adj(edge_index, edge_attr=weight, max_num_nodes=n)[0].double()
    logits, s = memberships(n, k, seed=6)
    ref = dense_ncut(s, dense, gamma)
    out = relaxed_ncut_loss(s, edge_index, weight, gamma=gamma)
    stats = ncut_statistics(s, edge_index, weight, node_weight=None)
    for got, via_stats, want in zip(out, ncut_loss_from_statistics(stats, gamma), ref):
        torch.testing.assert_close(got, want, **TOL)
        torch.testing.assert_close(via_stats, want, **TOL)
    torch.testing.assert_close(grad_of(out.loss, logits), grad_of(ref[0], logits), **TOL)
    # ...and it is not the ratio cut: on this graph the two differ.
    assert abs(float(out.cut.detach()) - float(dense_ratio_cut(s, dense, gamma)[1].detach())) > 1e-3


def test_empty_clusters_are_finite():
    """An empty cluster gives finite values and gradients in both variants."""
    edge_index, weight = random_graph(20, seed=13)
    logits = torch.zeros(20, 3, dtype=torch.float64)
    logits[:, 2] = -1e4  # third cluster empty (to double precision)
    logits.requires_grad_()
    s = logits.softmax(-1)
    for fn in (relaxed_ratio_cut_loss, relaxed_modularity_loss):
        out = fn(s, edge_index, weight)
        assert all(bool(torch.isfinite(v)) for v in out)
        assert bool(torch.isfinite(grad_of(out.loss, logits)).all())
