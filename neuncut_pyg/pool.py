r"""Normalized-cut pooling: a drop-in for PyG's ``DMoNPooling`` trained on NeuNcut's loss.

The layer learns soft cluster assignments :math:`\mathbf{S}` from node features, coarsens the
graph with them, and returns NeuNcut's relaxed normalized cut (computed by
:mod:`neuncut_pyg.loss`, the only place the formula is written) as its auxiliary loss.
"""
from __future__ import annotations

from typing import List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from torch_geometric.nn.models.mlp import MLP
from torch_geometric.utils import to_dense_batch

from neuncut_pyg._validation import check_probability, is_int
from neuncut_pyg.adjacency import Adj, as_coo, is_sparse_tensor, spmm
from neuncut_pyg.loss import (
    DEFAULT_GAMMA,
    NcutStatistics,
    validate_gamma,
    dense_ncut_statistics,
    ncut_loss_from_statistics,
    ncut_statistics,
)

__all__ = ["NcutPooling"]

#: Floor of the coarsened degrees before the square root, as in ``DMoNPooling``.
EPS = 1e-15


class NcutPooling(torch.nn.Module):
    r"""The normalized-cut pooling operator of Neural Normalized Cut (NeuNcut, He et al.,
    Pattern Recognition 2025), shaped like :class:`torch_geometric.nn.dense.DMoNPooling`.

    An MLP maps node features to cluster logits, :math:`\mathbf{S} = \mathrm{softmax}(
    \mathrm{MLP}(\mathbf{X})) \in [0, 1]^{N \times k}`, and the graph is coarsened by

    .. math::
        \mathbf{X}^{\prime} = \mathbf{S}^{\top}\mathbf{X}, \qquad
        \mathbf{A}^{\prime} = \mathbf{\hat{D}}^{-1/2}\,\mathbf{\hat{A}}\,\mathbf{\hat{D}}^{-1/2},
        \quad \mathbf{\hat{A}} = \mathbf{S}^{\top}\mathbf{A}\,\mathbf{S} - \mathrm{diag}(
        \mathbf{S}^{\top}\mathbf{A}\,\mathbf{S}),
        \quad \mathbf{\hat{D}} = \mathrm{diag}(\mathbf{\hat{A}}\mathbf{1}),

    as in ``DMoNPooling``, but with no activation on :math:`\mathbf{X}^{\prime}` (``DMoNPooling``
    applies SELU: apply ``F.selu(out)`` for the same behaviour).

    The auxiliary losses are the two terms of the relaxed normalized cut (see
    :func:`neuncut_pyg.relaxed_ncut_loss`), with :math:`\mathbf{d} = \mathbf{A}\mathbf{1}`,
    :math:`\mathrm{vol}_j = \mathbf{d}^{\top}\mathbf{s}_j` and
    :math:`\mathbf{H} = \mathbf{S}\,\mathrm{diag}(\mathrm{vol})^{-1/2}`:

    .. math::
        \mathcal{L}_{\mathrm{cut}} = \sum_{j=1}^{k}
            \frac{\mathbf{s}_j^{\top}(\mathbf{D} - \mathbf{A})\,\mathbf{s}_j}{\mathrm{vol}_j},
        \qquad
        \mathcal{L}_{\mathrm{orth}} = \frac{\gamma}{2} \cdot \frac{1}{k}
            \left\| \mathbf{H}^{\top}\mathbf{D}\mathbf{H} - \mathbf{I}_k \right\|_F,

    each averaged over the graphs of the batch. For a single graph,
    ``cut_loss + orth_loss == relaxed_ncut_loss(s, edge_index, gamma=gamma).loss``.

    **Two input forms**, told apart by the type of the second argument: *dense* (the
    ``DMoNPooling`` form: ``x`` ``[B, N, F]``, a dense ``adj`` ``[B, N, N]``, ``mask`` ``[B, N]``
    for zero-padded graphs) and *sparse* (``x`` ``[N, F]``, any ``Adj``, optional
    ``edge_weight`` and a sorted ``batch`` ``[N]``; no :math:`N \times N` matrix: the loss uses
    :func:`~neuncut_pyg.ncut_statistics` per graph and the coarsened graph is
    :math:`\mathbf{S}_b^{\top}(\mathbf{A}\mathbf{S})_b`). Giving one form's options to the
    other raises a :class:`ValueError`; both return ``out`` ``[B, k, F]`` and ``out_adj``
    ``[B, k, k]`` and agree exactly on the same graphs.

    Args:
        channels (int or List[int]): Size of each input sample. If given as a list, an MLP with
            these feature sizes (followed by a linear layer to ``k``) computes the logits.
        k (int): The number of clusters, ``k >= 2``.
        dropout (float, optional): Dropout probability on the logits. (default: :obj:`0.0`)
        gamma (float, optional): Weight :math:`\gamma` of the orthogonality penalty.
            (default: :obj:`80.0`, the paper's)

    Example:
        >>> pool = NcutPooling([32, 32], k=8)
        >>> s, x, adj, cut_loss, orth_loss = pool(x, edge_index, batch=batch)  # sparse
        >>> x = F.selu(x)
        >>> s, x, adj, cut_loss, orth_loss = pool2(x, adj)                       # dense
    """

    def __init__(
        self,
        channels: Union[int, List[int]],
        k: int,
        dropout: float = 0.0,
        gamma: float = DEFAULT_GAMMA,
    ) -> None:
        super().__init__()
        if isinstance(channels, int):
            channels = [channels]
        channels = list(channels)
        if len(channels) == 0 or any(not is_int(c) or c < 1 for c in channels):
            raise ValueError(f"channels must be a positive int or a non-empty list of them, got {channels}")
        if not is_int(k) or k < 2:
            raise ValueError(f"k must be an int >= 2 (a cut needs at least two clusters), got {k!r}")
        check_probability(dropout, "dropout")
        validate_gamma(gamma)

        self.mlp = MLP([int(c) for c in channels] + [int(k)], act=None, norm=None)
        self.k = int(k)
        self.dropout = float(dropout)
        self.gamma = float(gamma)

        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        self.mlp.reset_parameters()

    def forward(
        self,
        x: Tensor,
        adj: Adj,
        mask: Optional[Tensor] = None,
        *,
        edge_weight: Optional[Tensor] = None,
        batch: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        r"""Forward pass.

        Args:
            x (torch.Tensor): Node features, ``[B, N, F]`` or ``[N, F]`` (dense form) or
                ``[N, F]`` (sparse form).
            adj (torch.Tensor or SparseTensor): A dense floating-point adjacency ``[B, N, N]``
                / ``[N, N]`` selects the dense form; an integer ``edge_index`` ``[2, E]``, a
                ``SparseTensor`` or a torch sparse tensor selects the sparse form.
            mask (torch.Tensor, optional): Dense form only: ``[B, N]``, ``False`` (or 0) for
                padding nodes. (default: :obj:`None`)
            edge_weight (torch.Tensor, optional): Sparse form only: non-negative weights
                ``[E]`` of ``edge_index``. (default: :obj:`None`)
            batch (torch.Tensor, optional): Sparse form only: sorted graph index ``[N]`` of each
                node. (default: :obj:`None`, one graph)

        Returns:
            ``(s, out, out_adj, cut_loss, orth_loss)``: memberships, pooled features
            :math:`\mathbf{S}^{\top}\mathbf{X}` (no activation), normalized coarsened
            adjacency, and the graph-averaged cut and :math:`\frac{\gamma}{2}`-weighted
            orthogonality terms of the relaxed normalized cut.

        Raises:
            ValueError: on malformed or mismatched shapes, arguments of the other input form,
                NaN/inf values, negative weights, edges between different graphs of ``batch``
                or an unsorted ``batch``.
        """
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise ValueError(f"x must be a floating-point tensor of node features, got {_describe(x)}")
        if _is_dense_adjacency(adj):
            if edge_weight is not None or batch is not None:
                raise ValueError(
                    "edge_weight and batch belong to the sparse form, but adj is a dense adjacency: "
                    "pass padding as mask= (e.g. from to_dense_batch) and weights as the entries of adj"
                )
            return self._forward_dense(x, adj, mask)
        if mask is not None:
            raise ValueError(
                "mask belongs to the dense form, but adj is sparse (edge_index / SparseTensor / torch "
                "sparse): pass the node-to-graph assignment as batch= instead"
            )
        return self._forward_sparse(x, adj, edge_weight, batch)

    def _memberships(self, x: Tensor) -> Tensor:
        s = self.mlp(x)
        s = F.dropout(s, self.dropout, training=self.training)
        return torch.softmax(s, dim=-1)

    def _losses(self, stats: NcutStatistics) -> Tuple[Tensor, Tensor]:
        loss, cut, _ = ncut_loss_from_statistics(stats, self.gamma)
        # The weighted orthogonality term is what the loss adds to the cut: its weighting stays
        # in loss.py.
        return cut.mean(), (loss - cut).mean()

    def _forward_dense(
        self, x: Tensor, adj: Tensor, mask: Optional[Tensor]
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        x = x.unsqueeze(0) if x.dim() == 2 else x
        adj = adj.unsqueeze(0) if adj.dim() == 2 else adj
        if x.dim() != 3:
            raise ValueError(f"x must have shape [B, N, F] or [N, F] in the dense form, got {list(x.shape)}")
        batch_size, num_nodes, _ = x.shape
        if adj.shape != (batch_size, num_nodes, num_nodes):
            raise ValueError(
                f"adj must have shape [{batch_size}, {num_nodes}, {num_nodes}] to match x of shape "
                f"{list(x.shape)}, got {list(adj.shape)}"
            )
        if mask is not None:
            if tuple(mask.shape) != (batch_size, num_nodes):
                raise ValueError(f"mask must have shape [{batch_size}, {num_nodes}] to match x, got {list(mask.shape)}")
            node_mask = mask.to(x.dtype).unsqueeze(-1)
            x = x * node_mask

        s = self._memberships(x)
        if mask is not None:
            s = s * node_mask
        # Checks adj (finite, non-negative) before it is used below.
        cut_loss, orth_loss = self._losses(dense_ncut_statistics(s, adj, mask))

        s_t = s.transpose(1, 2)
        out = s_t @ x
        out_adj = s_t @ adj.to(s.dtype) @ s
        return s, out, _normalize_coarsened(out_adj), cut_loss, orth_loss

    def _forward_sparse(
        self, x: Tensor, edge_index: Adj, edge_weight: Optional[Tensor], batch: Optional[Tensor]
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        if x.dim() != 2:
            raise ValueError(
                f"x must have shape [N, F] in the sparse form, got {list(x.shape)}: for batched "
                "[B, N, F] features pass a dense adjacency [B, N, N], or flatten x and pass batch="
            )
        num_nodes = x.size(0)
        if num_nodes == 0:
            raise ValueError("x has no rows: the graph has no nodes")
        # Checks shape, index range and weights of the graph in whichever Adj form it comes.
        row, col, weight = as_coo(edge_index, edge_weight, num_nodes=num_nodes, dtype=x.dtype)
        batch, num_graphs = _check_batch(batch, row, col, num_nodes, x.device)

        s = self._memberships(x)
        stats = ncut_statistics(s, edge_index, edge_weight, batch=batch, num_graphs=num_graphs)
        cut_loss, orth_loss = self._losses(stats)

        adj_s = spmm(edge_index, row, col, weight, s)  # A S, [N, k]; edges stay within graphs
        s_dense, _ = to_dense_batch(s, batch, batch_size=num_graphs)  # [B, Nmax, k], zero padded
        x_dense, _ = to_dense_batch(x, batch, batch_size=num_graphs)
        adj_s_dense, _ = to_dense_batch(adj_s, batch, batch_size=num_graphs)
        s_t = s_dense.transpose(1, 2)
        out = s_t @ x_dense
        out_adj = s_t @ adj_s_dense
        return s, out, _normalize_coarsened(out_adj), cut_loss, orth_loss

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.mlp.in_channels}, num_clusters={self.mlp.out_channels}, "
            f"gamma={self.gamma})"
        )


def _is_dense_adjacency(adj: object) -> bool:
    # A strided floating-point tensor is a dense adjacency; an integer one is an edge_index and
    # sparse layouts / SparseTensor are sparse graphs.
    if is_sparse_tensor(adj) or not isinstance(adj, Tensor):
        return False
    if adj.layout != torch.strided:
        return False
    return adj.is_floating_point()


def _normalize_coarsened(out_adj: Tensor) -> Tensor:
    r"""Zeroes the diagonal of ``[B, k, k]`` and applies :math:`\hat{D}^{-1/2}\hat{A}\hat{D}^{-1/2}`."""
    k = out_adj.size(-1)
    diagonal = torch.eye(k, dtype=torch.bool, device=out_adj.device)
    out_adj = out_adj.masked_fill(diagonal, 0.0)
    # Clamp (rather than DMoNPooling's sqrt(d) + EPS): a cluster without outside edges has d = 0,
    # where sqrt has an infinite derivative and would turn the gradient into NaN.
    inv_sqrt_deg = out_adj.sum(-1).clamp_min(EPS).rsqrt()  # [B, k]
    return out_adj * inv_sqrt_deg.unsqueeze(-1) * inv_sqrt_deg.unsqueeze(-2)


def _check_batch(
    batch: Optional[Tensor], row: Tensor, col: Tensor, num_nodes: int, device: torch.device
) -> Tuple[Tensor, int]:
    if batch is None:
        return torch.zeros(num_nodes, dtype=torch.long, device=device), 1
    if not isinstance(batch, Tensor) or batch.dtype not in (torch.long, torch.int, torch.int32):
        raise ValueError(f"batch must be an integer tensor of graph indices, got {_describe(batch)}")
    if batch.dim() != 1 or batch.numel() != num_nodes:
        raise ValueError(f"batch must have shape [{num_nodes}] (one graph index per node of x), got {list(batch.shape)}")
    batch = batch.long()
    if bool((batch < 0).any()):
        raise ValueError("batch holds negative graph indices")
    # Per-graph blocks are cut out of contiguous rows (to_dense_batch), as in PyG's mini-batches.
    if bool((batch[1:] < batch[:-1]).any()):
        raise ValueError("batch must be sorted (nodes of each graph contiguous), as PyG's DataLoader makes it")
    if row.numel() > 0 and bool((batch[row] != batch[col]).any()):
        raise ValueError("edge_index connects nodes of different graphs of batch: graphs of a batch must be disjoint")
    return batch, int(batch[-1]) + 1


def _describe(obj: object) -> str:
    if isinstance(obj, Tensor):
        return f"a {obj.dtype} tensor of shape {list(obj.shape)}"
    return type(obj).__name__
