"""The relaxed normalized cut against its dense definition, on every Adj form and edge case."""
from __future__ import annotations

import math

import networkx as nx
import pytest
import torch
from torch_geometric.utils import erdos_renyi_graph, to_dense_adj, to_undirected
from torch_sparse import SparseTensor

from neuncut_pyg import (
    NcutStatistics,
    RelaxedNcutLoss,
    dense_ncut_statistics,
    ncut_loss_from_statistics,
    ncut_statistics,
    relaxed_ncut_loss,
)


def dense_reference(s: torch.Tensor, w: torch.Tensor, gamma: float):
    """The paper's formula, written with dense matrices: trace(H^T L H) and ||H^T D H - I||_F / k."""
    w = 0.5 * (w + w.t())
    d = w.sum(1)
    lap = torch.diag(d) - w
    vol = d @ s
    h = s / vol.sqrt()
    k = s.size(1)
    cut = torch.trace(h.t() @ lap @ h)
    orth = torch.linalg.norm(h.t() @ torch.diag(d) @ h - torch.eye(k, dtype=s.dtype)) / k
    return cut + gamma / 2 * orth, cut, orth


def random_graph(n=40, p=0.15, weighted=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    edge_index = erdos_renyi_graph(n, p)
    weight = torch.rand(edge_index.size(1), generator=g, dtype=torch.float64) + 0.1 if weighted else None
    if weighted:
        edge_index, weight = to_undirected(edge_index, weight, num_nodes=n)
    else:
        edge_index = to_undirected(edge_index, num_nodes=n)
    return edge_index, weight


def memberships(n, k, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g, dtype=dtype).mul(2).requires_grad_()
    return logits, logits.softmax(-1)


def adj_forms(edge_index, weight, n):
    """The same weighted graph as every Adj form PyG accepts."""
    dense = to_dense_adj(edge_index, edge_attr=weight, max_num_nodes=n)[0]
    sp = SparseTensor(row=edge_index[0], col=edge_index[1], value=weight, sparse_sizes=(n, n))
    return {
        "edge_index": (edge_index, weight),
        "SparseTensor": (sp, None),
        "torch_coo": (dense.to_sparse(), None),
        "torch_csr": (dense.to_sparse_csr(), None),
    }


@pytest.mark.parametrize("form", ["edge_index", "SparseTensor", "torch_coo", "torch_csr"])
@pytest.mark.parametrize("gamma", [0.0, 80.0])
def test_matches_dense_formula_value_and_gradient(form, gamma):
    n, k = 40, 5
    edge_index, weight = random_graph(n)
    dense = to_dense_adj(edge_index, edge_attr=weight, max_num_nodes=n)[0]
    adj, ew = adj_forms(edge_index, weight, n)[form]

    logits, s = memberships(n, k)
    out = relaxed_ncut_loss(s, adj, ew, gamma=gamma)
    ref = dense_reference(s, dense, gamma)
    for got, want in zip(out, ref):
        assert torch.allclose(got, want, atol=1e-10, rtol=1e-5)
    (g_sparse,) = torch.autograd.grad(out.loss, logits, retain_graph=True)
    (g_dense,) = torch.autograd.grad(ref[0], logits)
    assert torch.allclose(g_sparse, g_dense, atol=1e-10, rtol=1e-5)


def test_one_hot_cut_is_the_discrete_normalized_cut():
    n, k = 60, 4
    edge_index, weight = random_graph(n, p=0.1, seed=3)
    labels = torch.randint(0, k, (n,), generator=torch.Generator().manual_seed(1))
    s = torch.nn.functional.one_hot(labels, k).double()
    out = relaxed_ncut_loss(s, edge_index, weight)

    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    for (u, v), w in zip(edge_index.t().tolist(), weight.tolist()):
        graph.add_edge(u, v, weight=w)
    expected = sum(
        nx.cut_size(graph, [i for i in range(n) if labels[i] == j], weight="weight")
        / nx.volume(graph, [i for i in range(n) if labels[i] == j], weight="weight")
        for j in range(k)
    )
    assert out.cut.item() == pytest.approx(expected, rel=1e-12)
    assert out.orth.item() == pytest.approx(0.0, abs=1e-12)


def test_total_collapse_costs_the_orthogonality_penalty_only():
    # Everything in cluster 0: no cut at all, and ||H^T D H - I||_F = sqrt(k - 1) (empty clusters).
    n, k = 30, 6
    edge_index, _ = random_graph(n, weighted=False)
    s = torch.zeros(n, k, dtype=torch.float64)
    s[:, 0] = 1
    out = relaxed_ncut_loss(s, edge_index, gamma=80.0)
    assert out.cut.item() == pytest.approx(0.0, abs=1e-12)
    assert out.orth.item() == pytest.approx(math.sqrt(k - 1) / k)
    assert out.loss.item() == pytest.approx(40.0 * math.sqrt(k - 1) / k)


def test_edge_cases_give_finite_values_and_gradients():
    # Isolated nodes 8 and 9, a self-loop on node 0, weighted edges, and one cluster that is
    # (numerically) empty: softmax weights of exp(-80) on column 2.
    n, k = 10, 3
    edge_index = torch.tensor([[0, 0, 1, 1, 2, 3, 4, 5, 6, 7], [0, 1, 0, 2, 1, 4, 3, 6, 5, 7]])
    weight = torch.tensor([2.0, 0.5, 0.5, 1.5, 1.5, 1.0, 1.0, 3.0, 3.0, 0.7], dtype=torch.float64)
    logits = torch.randn(n, k, dtype=torch.float64)
    logits[:, 2] = -80.0
    logits.requires_grad_()
    s = logits.softmax(-1)
    out = relaxed_ncut_loss(s, edge_index, weight)
    assert all(torch.isfinite(t) for t in out)
    (grad,) = torch.autograd.grad(out.loss, logits)
    assert torch.isfinite(grad).all()
    # Self-loops and isolated nodes are exactly as in the dense formula.
    ref = dense_reference(s, to_dense_adj(edge_index, edge_attr=weight, max_num_nodes=n)[0], 80.0)
    assert torch.allclose(out.loss, ref[0], rtol=1e-6)


def test_exactly_empty_cluster_and_edgeless_graph_are_finite():
    n, k = 6, 3
    s = torch.zeros(n, k, dtype=torch.float64)
    s[:3, 0] = 1
    s[3:, 1] = 1  # cluster 2 exactly empty
    s.requires_grad_()
    edge_index = torch.tensor([[0, 1, 3, 4], [1, 0, 4, 3]])
    out = relaxed_ncut_loss(s, edge_index)
    assert out.cut.item() == 0.0
    assert out.orth.item() == pytest.approx(1 / 3)
    (grad,) = torch.autograd.grad(out.loss, s)
    assert torch.isfinite(grad).all()

    no_edges = torch.empty(2, 0, dtype=torch.long)
    out = relaxed_ncut_loss(torch.full((n, k), 1 / k, requires_grad=True), no_edges)
    assert all(torch.isfinite(t) for t in out)


def test_directed_input_is_the_cut_of_its_symmetrization():
    n, k = 30, 4
    edge_index = erdos_renyi_graph(n, 0.2, directed=True)
    _, s = memberships(n, k, seed=2)
    w = to_dense_adj(edge_index, max_num_nodes=n)[0].double()
    out = relaxed_ncut_loss(s, edge_index)
    ref = dense_reference(s, w, 80.0)  # the reference symmetrizes (W + W^T) / 2
    assert torch.allclose(out.loss, ref[0], rtol=1e-10)
    assert out.cut.item() >= 0


def test_float32_agrees_with_float64():
    n, k = 200, 8
    edge_index, weight = random_graph(n, p=0.05)
    _, s = memberships(n, k)
    out64 = relaxed_ncut_loss(s, edge_index, weight)
    out32 = relaxed_ncut_loss(s.float(), edge_index, weight.float())
    for a, b in zip(out32, out64):
        assert a.dtype == torch.float32
        assert a.item() == pytest.approx(b.item(), rel=1e-4, abs=1e-5)


def test_statistics_add_up_over_disjoint_node_sets():
    # A mini-batch of seed nodes with their full rows of W and the global degrees gives a partial
    # sum; the partial sums over a partition of the nodes add up to the full-graph statistics.
    n, k = 50, 4
    edge_index, weight = random_graph(n, p=0.12)
    _, s = memberships(n, k)
    full = ncut_statistics(s, edge_index, weight)
    deg = torch.zeros(n, dtype=torch.float64).index_add_(0, edge_index[0], weight)

    parts = torch.randperm(n, generator=torch.Generator().manual_seed(0)).chunk(3)
    total = None
    for nodes in parts:
        in_part = torch.zeros(n, dtype=torch.bool)
        in_part[nodes] = True
        keep = in_part[edge_index[0]]
        stats = ncut_statistics(s, edge_index[:, keep], weight[keep], deg=deg * in_part)
        total = stats if total is None else NcutStatistics(*(a + b for a, b in zip(total, stats)))
    for got, want in zip(total, full):
        assert torch.allclose(got, want, rtol=1e-10, atol=1e-12)
    assert torch.allclose(ncut_loss_from_statistics(total).loss, relaxed_ncut_loss(s, edge_index, weight).loss)
    half = full.scale(0.5)
    assert torch.allclose(half.vol, full.vol / 2)


def test_batched_statistics_equal_per_graph_and_dense():
    k = 3
    graphs = [random_graph(n, p=0.3, seed=n) for n in (7, 12, 5)]
    offsets = torch.tensor([0, 7, 19])
    edge_index = torch.cat([ei + o for (ei, _), o in zip(graphs, offsets)], dim=1)
    weight = torch.cat([w for _, w in graphs])
    batch = torch.cat([torch.full((n,), i) for i, n in enumerate((7, 12, 5))])
    _, s = memberships(24, k)

    batched = ncut_statistics(s, edge_index, weight, batch=batch)
    nmax = 12
    s_dense = torch.zeros(3, nmax, k, dtype=torch.float64)
    adj_dense = torch.zeros(3, nmax, nmax, dtype=torch.float64)
    mask = torch.zeros(3, nmax, dtype=torch.bool)
    for i, ((ei, w), o, n) in enumerate(zip(graphs, offsets, (7, 12, 5))):
        single = ncut_statistics(s[o : o + n], ei, w)
        for got, want in zip(batched, single):
            assert torch.allclose(got[i], want, rtol=1e-10)
        s_dense[i, :n] = s[o : o + n]
        adj_dense[i, :n, :n] = to_dense_adj(ei, edge_attr=w, max_num_nodes=n)[0]
        mask[i, :n] = True
    dense = dense_ncut_statistics(s_dense, adj_dense, mask)
    for got, want in zip(dense, batched):
        assert torch.allclose(got, want, rtol=1e-10)
    per_graph = ncut_loss_from_statistics(batched)
    assert per_graph.loss.shape == (3,)


def test_module_wraps_the_function():
    n, k = 30, 3
    edge_index, weight = random_graph(n)
    _, s = memberships(n, k)
    criterion = RelaxedNcutLoss(gamma=20.0)
    assert repr(criterion) == "RelaxedNcutLoss(gamma=20.0)"
    assert torch.equal(criterion(s, edge_index, weight).loss, relaxed_ncut_loss(s, edge_index, weight, gamma=20.0).loss)


def test_gamma_trades_cut_for_orthogonality():
    n, k = 30, 3
    edge_index, _ = random_graph(n, weighted=False)
    _, s = memberships(n, k)
    lo, hi = relaxed_ncut_loss(s, edge_index, gamma=0.0), relaxed_ncut_loss(s, edge_index, gamma=100.0)
    assert lo.loss.item() == pytest.approx(lo.cut.item())
    assert hi.loss.item() == pytest.approx(hi.cut.item() + 50.0 * hi.orth.item())


# --- bad input: a clear ValueError naming the problem, never a NaN loss ---------------------------

EDGES = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])


@pytest.mark.parametrize(
    "s, edge_index, kwargs, message",
    [
        (torch.rand(4), EDGES, {}, "2-D"),
        (torch.rand(4, 1), EDGES, {}, "at least 2 clusters"),
        (torch.rand(3, 5), EDGES, {}, "k <= N"),
        (torch.randint(0, 2, (4, 2)), EDGES, {}, "floating-point"),
        (torch.tensor([[0.5, float("nan")]] * 4), EDGES, {}, "NaN"),
        (torch.tensor([[0.5, float("inf")]] * 4), EDGES, {}, "NaN or infinite"),
        (torch.rand(4, 2), torch.tensor([[0, 1, 2]]), {}, r"\[2, E\]"),
        (torch.rand(4, 2), torch.tensor([[0, 1], [1, 4]]), {}, "only 4 nodes"),
        (torch.rand(4, 2), torch.tensor([[0, -1], [1, 0]]), {}, "only 4 nodes"),
        (torch.rand(4, 2), EDGES.float(), {}, "integer node indices"),
        (torch.rand(4, 2), EDGES, {"edge_weight": torch.ones(3)}, r"shape \[4\]"),
        (torch.rand(4, 2), EDGES, {"edge_weight": torch.tensor([1.0, -1.0, 1.0, 1.0])}, "non-negative"),
        (torch.rand(4, 2), EDGES, {"edge_weight": torch.tensor([1.0, float("nan"), 1.0, 1.0])}, "NaN"),
        (torch.rand(4, 2), EDGES, {"deg": torch.ones(3)}, "deg must have shape"),
        (torch.rand(4, 2), EDGES, {"deg": -torch.ones(4)}, "deg must be non-negative"),
        (torch.rand(4, 2), EDGES, {"gamma": -1.0}, "gamma"),
        (torch.rand(4, 2), EDGES, {"gamma": float("nan")}, "gamma"),
        (torch.rand(4, 2), SparseTensor.eye(5), {}, "expected \\[4, 4\\]"),
        (torch.rand(4, 2), torch.eye(5).to_sparse(), {}, r"\[4, 4\]"),
        (torch.rand(4, 2), SparseTensor.eye(4), {"edge_weight": torch.ones(4)}, "edge_weight must be None"),
    ],
)
def test_bad_input_raises_value_error(s, edge_index, kwargs, message):
    with pytest.raises(ValueError, match=message):
        relaxed_ncut_loss(s, edge_index, **kwargs)


def test_bad_input_type_raises_type_error():
    with pytest.raises(TypeError, match="edge_index must be"):
        relaxed_ncut_loss(torch.rand(4, 2), [[0, 1], [1, 0]])
    with pytest.raises(TypeError, match="s must be a torch.Tensor"):
        relaxed_ncut_loss([[0.5, 0.5]], EDGES)


def test_dense_statistics_reject_bad_input():
    with pytest.raises(ValueError, match="adj must have shape"):
        dense_ncut_statistics(torch.rand(2, 4, 3), torch.rand(2, 5, 5))
    with pytest.raises(ValueError, match="non-negative"):
        dense_ncut_statistics(torch.rand(4, 3), -torch.rand(4, 4))
    with pytest.raises(ValueError, match="mask must have shape"):
        dense_ncut_statistics(torch.rand(2, 4, 3), torch.rand(2, 4, 4), torch.ones(2, 3, dtype=torch.bool))
