"""The sparse product W @ X behind the loss and the feature smoothing: the symmetric CSR fast
path against the dense product, in value and gradient, and its fallbacks."""
import numpy as np
import pytest
import torch
from torch_geometric.utils import to_undirected
from torch_sparse import SparseTensor

from neuncut_pyg.adjacency import as_coo, edge_arrays, is_symmetric, spmm, symmetric_csr


def _weighted_undirected(num_nodes: int = 30, num_edges: int = 120, seed: int = 0) -> SparseTensor:
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    weight = torch.rand(num_edges, generator=gen, dtype=torch.float64) + 0.1
    edge_index, weight = to_undirected(edge_index, weight, num_nodes=num_nodes)
    return SparseTensor(row=edge_index[0], col=edge_index[1], value=weight, sparse_sizes=(num_nodes, num_nodes))


def _product_and_grad(adj, x: torch.Tensor):
    x = x.clone().requires_grad_(True)
    row, col, weight = as_coo(adj, None, num_nodes=x.size(0), dtype=x.dtype)
    out = spmm(adj, row, col, weight, x)
    probe = torch.linspace(-1.0, 1.0, out.numel(), dtype=x.dtype).view_as(out)
    (out * probe).sum().backward()
    return out.detach(), x.grad


def _dense_product_and_grad(dense: torch.Tensor, x: torch.Tensor):
    x = x.clone().requires_grad_(True)
    out = dense @ x
    probe = torch.linspace(-1.0, 1.0, out.numel(), dtype=x.dtype).view_as(out)
    (out * probe).sum().backward()
    return out.detach(), x.grad


def test_symmetric_fast_path_matches_dense_product_and_gradient():
    adj = _weighted_undirected()
    assert is_symmetric(adj)
    csr = symmetric_csr(adj, torch.float64)
    assert csr is not None and csr.layout == torch.sparse_csr
    x = torch.randn(30, 5, dtype=torch.float64)
    out, grad = _product_and_grad(adj, x)
    want_out, want_grad = _dense_product_and_grad(adj.to_dense(), x)
    torch.testing.assert_close(out, want_out, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, want_grad, rtol=1e-12, atol=1e-12)


def test_unweighted_symmetric_graph_uses_unit_weights():
    adj = _weighted_undirected()
    unweighted = SparseTensor(row=adj.storage.row(), col=adj.storage.col(), sparse_sizes=adj.sizes())
    x = torch.randn(30, 3, dtype=torch.float32)
    out, grad = _product_and_grad(unweighted, x)
    dense = unweighted.to_dense().to(torch.float32)
    want_out, want_grad = _dense_product_and_grad(dense, x)
    torch.testing.assert_close(out, want_out)
    torch.testing.assert_close(grad, want_grad)


def test_directed_graph_falls_back_to_torch_sparse_with_the_transposed_gradient():
    adj = SparseTensor(row=torch.tensor([0, 0, 1, 3]), col=torch.tensor([1, 2, 2, 0]),
                       value=torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64), sparse_sizes=(4, 4))
    assert not is_symmetric(adj)
    assert symmetric_csr(adj, torch.float64) is None
    x = torch.randn(4, 2, dtype=torch.float64)
    out, grad = _product_and_grad(adj, x)
    want_out, want_grad = _dense_product_and_grad(adj.to_dense(), x)
    torch.testing.assert_close(out, want_out)
    torch.testing.assert_close(grad, want_grad)  # W^T G, which differs from W G here
    wrong = adj.to_dense() @ torch.linspace(-1.0, 1.0, 8, dtype=torch.float64).view(4, 2)
    assert not torch.allclose(grad, wrong)


def test_learned_edge_weights_keep_their_gradient():
    adj = _weighted_undirected()
    value = adj.storage.value().clone().requires_grad_(True)
    learned = adj.set_value(value, layout="coo")
    x = torch.randn(30, 4, dtype=torch.float64)
    row, col, weight = as_coo(learned, None, num_nodes=30, dtype=x.dtype)
    spmm(learned, row, col, weight, x).sum().backward()
    assert value.grad is not None and torch.isfinite(value.grad).all() and value.grad.abs().sum() > 0


def test_csr_is_cached_per_graph_and_dtype():
    adj = _weighted_undirected()
    first = symmetric_csr(adj, torch.float32)
    assert symmetric_csr(adj, torch.float32) is first
    double = symmetric_csr(adj, torch.float64)
    assert double is not first and double.dtype == torch.float64
    # Row pointers and column indices are the SparseTensor's own, not copies.
    assert first.crow_indices().data_ptr() == adj.storage.rowptr().data_ptr()
    assert first.col_indices().data_ptr() == adj.storage.col().data_ptr()


@pytest.mark.parametrize("shape", [(3, 4), (4, 4)])
def test_non_square_or_asymmetric_pattern_is_not_symmetric(shape):
    adj = SparseTensor(row=torch.tensor([0, 1]), col=torch.tensor([1, 2]), sparse_sizes=shape)
    assert not is_symmetric(adj)


def test_cache_entry_goes_with_its_graph():
    import gc

    from neuncut_pyg import adjacency

    adj = _weighted_undirected(seed=3)
    symmetric_csr(adj, torch.float32)
    key = id(adj)
    assert key in adjacency._CSR_CACHE
    del adj
    gc.collect()
    assert key not in adjacency._CSR_CACHE


def test_edge_arrays_leave_out_the_weights_of_unweighted_graphs():
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    row, col, weight = edge_arrays(edge_index, num_nodes=3)
    assert weight is None and row.dtype == np.int64
    np.testing.assert_array_equal(np.stack([row, col]), edge_index.numpy())
    adj = SparseTensor(row=edge_index[0], col=edge_index[1], sparse_sizes=(3, 3))
    assert edge_arrays(adj, num_nodes=3)[2] is None
    w = torch.tensor([1.0, 1.0, 2.0, 2.0])
    np.testing.assert_array_equal(edge_arrays(edge_index, w, num_nodes=3)[2], w.numpy())
    weighted = SparseTensor(row=edge_index[0], col=edge_index[1], value=w, sparse_sizes=(3, 3))
    assert edge_arrays(weighted, num_nodes=3)[2].dtype == np.float64
    with pytest.raises(ValueError, match="only 2 nodes"):
        edge_arrays(edge_index, num_nodes=2)
    with pytest.raises(ValueError, match="non-negative"):
        edge_arrays(edge_index, -w, num_nodes=3)
