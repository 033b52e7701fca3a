"""Feature smoothing over the graph (:mod:`neuncut_pyg.propagation`) against its dense formula."""
from __future__ import annotations

import pytest
import torch

from neuncut_pyg.models import NeuNcut
from neuncut_pyg.propagation import propagate_features

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_propagate_features_is_the_gcn_normalized_power(four_blocks):
    n = four_blocks.num_nodes
    adj = torch.zeros(n, n)
    adj[four_blocks.edge_index[0], four_blocks.edge_index[1]] = 1.0
    adj += torch.eye(n)
    d = adj.sum(1).rsqrt()
    a_hat = d[:, None] * adj * d[None, :]
    want = a_hat @ (a_hat @ four_blocks.x)
    assert torch.allclose(propagate_features(four_blocks.x, four_blocks.edge_index, steps=2), want, atol=1e-5)
    assert torch.equal(propagate_features(four_blocks.x, four_blocks.edge_index, steps=0), four_blocks.x)
    with pytest.raises(ValueError, match="steps"):
        propagate_features(four_blocks.x, four_blocks.edge_index, steps=-1)
    with pytest.raises(ValueError, match="propagation_steps"):
        NeuNcut(8, 4, encoder="gcn", propagation_steps=2)


@pytest.mark.parametrize("case", ["undirected", "weighted with self-loops", "directed"])
def test_propagation_matches_the_dense_formula_on_every_graph_kind(case):
    # Undirected graphs take a path that never builds the transpose or a self-loop copy; the
    # dense formula is A_hat = D^-1/2 (W^T without its diagonal + I) D^-1/2 (PyG's gcn_norm on adj_t).
    from torch_geometric.utils import to_undirected

    g = torch.Generator().manual_seed(1)
    n = 40
    edge_index = torch.randint(0, n, (2, 160), generator=g)
    weight = None
    if case != "directed":
        edge_index = to_undirected(edge_index)
    if case == "weighted with self-loops":
        edge_index = torch.cat([edge_index, torch.tensor([[2, 5], [2, 5]])], dim=1)
        half = torch.rand(edge_index.size(1), generator=g, dtype=torch.float64)
        dense = torch.zeros(n, n, dtype=torch.float64).index_put_((edge_index[0], edge_index[1]), half, accumulate=True)
        dense = dense + dense.t()
        edge_index = dense.nonzero().t()
        weight = dense[edge_index[0], edge_index[1]]
    w = torch.zeros(n, n, dtype=torch.float64)
    w.index_put_((edge_index[0], edge_index[1]),
                 torch.ones(edge_index.size(1), dtype=torch.float64) if weight is None else weight, accumulate=True)
    a = w.t().clone()
    a.fill_diagonal_(1.0)
    d = a.sum(1).rsqrt()
    a_hat = d[:, None] * a * d[None, :]
    x = torch.randn(n, 5, generator=g, dtype=torch.float64)
    got = propagate_features(x, edge_index, weight, steps=3)
    torch.testing.assert_close(got, a_hat @ (a_hat @ (a_hat @ x)))
