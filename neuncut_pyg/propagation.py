r"""Feature smoothing over a graph, :math:`\hat{\mathbf{A}}^K\mathbf{X}`: the input of
``NeuNcut(encoder="mlp")`` and of the method's start
(:func:`neuncut_pyg.start.smoothed_feature_clustering`)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from neuncut_pyg._validation import check_int
from neuncut_pyg.adjacency import Adj, csr_matrix, gcn_adj_t, gcn_node_terms, symmetric_csr, to_sparse_adjacency

__all__ = ["propagate_features"]


def propagate_features(x: Tensor, edge_index: Adj, edge_weight: Optional[Tensor] = None, *, steps: int,
                       num_nodes: Optional[int] = None) -> Tensor:
    r"""Features smoothed over the graph, :math:`\hat{\mathbf{A}}^K\mathbf{X}`, with
    :math:`\hat{\mathbf{A}} = \tilde{\mathbf{D}}^{-1/2}(\mathbf{W} + \mathbf{I})\tilde{\mathbf{D}}^{-1/2}`
    the GCN-normalized affinity (Wu et al., *Simplifying Graph Convolutional Networks*, 2019).

    Computed once per graph, in :math:`K` sparse products (:math:`O(KEF)`), it is the input of
    ``NeuNcut(encoder="mlp")``: an MLP on these rows needs no neighbourhood at training or
    inference time, which makes mini-batches and new nodes cheap.

    Args:
        x (torch.Tensor): Node features ``[N, F]`` (dense or sparse).
        edge_index (Adj): The affinity :math:`\mathbf{W}` in any ``Adj`` form.
        edge_weight (torch.Tensor, optional): Non-negative edge weights ``[E]``.
        steps (int): :math:`K \geq 0`.
        num_nodes (int, optional): :math:`N`. (default: ``x.size(0)``)

    Returns:
        torch.Tensor: Dense ``[N, F]``.
    """
    steps = check_int(steps, "steps", minimum=0)
    num_nodes = x.size(0) if num_nodes is None else num_nodes
    adj = to_sparse_adjacency(edge_index, edge_weight, num_nodes=num_nodes)
    dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    out = x.to_dense() if x.layout != torch.strided else x
    out = out.to(dtype)
    if steps == 0:
        return out
    row, col, value = adj.coo()
    terms = gcn_node_terms(row, col, value, num_nodes)
    csr = symmetric_csr(adj, dtype)
    if csr is not None:
        # The common case (undirected graphs): A_hat X = D^-1/2 W D^-1/2 X + (1 - w_ii) / d_i X.
        # Folding the normalization into one scaled copy of W's values makes a step one CSR
        # product and one fused multiply-add, without the transpose and the copy with new
        # self-loops (indices included) that a normalized SparseTensor would cost.
        inv_sqrt = terms.scale.to(dtype)
        crow, csr_col = csr.crow_indices(), csr.col_indices()
        values = torch.repeat_interleave(inv_sqrt, crow.diff(), output_size=csr_col.numel())
        values.mul_(csr.values()).mul_(inv_sqrt[csr_col])
        a_hat = csr_matrix(crow, csr_col, values, tuple(csr.shape))
        self_weight = ((terms.loop.to(dtype) - adj.get_diag().to(dtype)) * inv_sqrt * inv_sqrt).unsqueeze(-1)
        for _ in range(steps):
            out = torch.addcmul(a_hat @ out, self_weight, out)
        return out
    a_hat = gcn_adj_t(row, col, value, terms, num_nodes, dtype=dtype)
    for _ in range(steps):
        out = a_hat @ out
    return out
