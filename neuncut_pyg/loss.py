r"""The relaxed normalized cut of NeuNcut, on sparse graphs.

This module is the one place where the objective is written down. Layers
(:class:`~neuncut_pyg.pool.NcutPooling`), models (:class:`~neuncut_pyg.models.NeuNcut`),
trainers and the command line all call the functions below.

Given soft memberships :math:`\mathbf{S} \in [0, 1]^{N \times k}` (rows sum to one), a
symmetric non-negative affinity :math:`\mathbf{W}`, degrees :math:`\mathbf{d} = \mathbf{W}\mathbf{1}`,
:math:`\mathbf{D} = \mathrm{diag}(\mathbf{d})` and :math:`\mathbf{L} = \mathbf{D} - \mathbf{W}`:

.. math::
    \mathrm{vol}_j = \mathbf{d}^{\top}\mathbf{s}_j, \qquad
    \mathbf{H} = \mathbf{S}\,\mathrm{diag}(\mathrm{vol})^{-1/2}

    \mathcal{L}_{\mathrm{cut}} = \mathrm{tr}(\mathbf{H}^{\top}\mathbf{L}\mathbf{H})
        = \sum_{j=1}^{k} \frac{\mathbf{s}_j^{\top}\mathbf{L}\,\mathbf{s}_j}{\mathrm{vol}_j},
    \qquad
    \mathcal{L}_{\mathrm{orth}} = \frac{1}{k}\left\| \mathbf{H}^{\top}\mathbf{D}\mathbf{H}
        - \mathbf{I}_k \right\|_F

    \mathcal{L} = \mathcal{L}_{\mathrm{cut}} + \frac{\gamma}{2}\,\mathcal{L}_{\mathrm{orth}}

For one-hot :math:`\mathbf{S}`, :math:`\mathcal{L}_{\mathrm{cut}}` is exactly the discrete
:math:`k`-way normalized cut and :math:`\mathcal{L}_{\mathrm{orth}} = 0`.

Why the loss is split into *statistics* and a *ratio*: every quantity above is a sum over nodes
(or edges) of per-cluster numbers — the cut numerators :math:`\mathbf{s}_j^{\top}\mathbf{L}\mathbf{s}_j`,
the volumes :math:`\mathrm{vol}_j` and the :math:`k \times k` matrix
:math:`\mathbf{S}^{\top}\mathbf{D}\mathbf{S}`. A mini-batch, a graph of a batch of graphs or a
rank of a process group computes partial sums with :func:`ncut_statistics`; the ratios are taken
by :func:`ncut_loss_from_statistics` once the sums are complete. Full-batch, mini-batch, pooled
and distributed training share one formula.

Variants through the same statistics: the *ratio cut* (:func:`relaxed_ratio_cut_loss`: node
counts instead of degrees as volumes, ``ncut_statistics(..., node_weight=ones)``) and DMoN's
*soft modularity* (:func:`relaxed_modularity_loss`, :func:`modularity_loss_from_statistics`:
:math:`\mathbf{s}_j^{\top}\mathbf{W}\mathbf{s}_j = \mathrm{gram}_{jj} - \mathrm{cut\_num}_j`
and :math:`2m = \sum_j \mathrm{vol}_j`).

Cost: one sparse-dense product :math:`\mathbf{W}\mathbf{S}` (:math:`O(Ek)`) and one
:math:`k \times k` Gram matrix (:math:`O(Nk^2)`); no :math:`N \times N` matrix is formed.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from neuncut_pyg._validation import check_real
from neuncut_pyg.adjacency import Adj, all_finite, as_coo, spmm, validate_memberships

__all__ = [
    "NcutLossOutput",
    "NcutStatistics",
    "ncut_statistics",
    "dense_ncut_statistics",
    "ncut_loss_from_statistics",
    "relaxed_ncut_loss",
    "RelaxedNcutLoss",
    "DEFAULT_GAMMA",
    "validate_gamma",
    "relaxed_ratio_cut_loss",
    "ModularityLossOutput",
    "modularity_loss_from_statistics",
    "relaxed_modularity_loss",
    "DEFAULT_COLLAPSE_WEIGHT",
]

#: The orthogonality weight of the paper's reference code.
DEFAULT_GAMMA: float = 80.0


class NcutLossOutput(NamedTuple):
    r"""The relaxed normalized cut and its two terms.

    ``loss = cut + gamma / 2 * orth``. Each is a scalar, or ``[B]`` for a batch of graphs.
    """

    loss: Tensor
    cut: Tensor
    orth: Tensor


class NcutStatistics(NamedTuple):
    r"""Additive per-cluster sums from which the relaxed normalized cut is formed.

    Attributes:
        cut_num: :math:`\mathbf{s}_j^{\top}\mathbf{L}\,\mathbf{s}_j`, shape ``[k]`` (or ``[B, k]``).
        vol: :math:`\mathbf{d}^{\top}\mathbf{s}_j`, shape ``[k]`` (or ``[B, k]``).
        gram: :math:`\mathbf{S}^{\top}\mathbf{D}\,\mathbf{S}`, shape ``[k, k]`` (or ``[B, k, k]``).

    With a ``node_weight`` :math:`\mathbf{v}` given to :func:`ncut_statistics`, ``vol`` and
    ``gram`` are :math:`\mathbf{v}^{\top}\mathbf{s}_j` and
    :math:`\mathbf{S}^{\top}\mathrm{diag}(\mathbf{v})\mathbf{S}` (node counts for the ratio cut).

    Sums over disjoint sets of nodes add up: ``NcutStatistics(*(a + b for a, b in zip(s1, s2)))``
    is the statistics of the union; :meth:`scale` turns a sample's sums into estimates.
    """

    cut_num: Tensor
    vol: Tensor
    gram: Tensor

    def scale(self, factor: float) -> "NcutStatistics":
        """Multiplies every sum by ``factor`` (e.g. ``N / batch_size`` for an unbiased estimate)."""
        return NcutStatistics(self.cut_num * factor, self.vol * factor, self.gram * factor)


def _degree(row: Tensor, col: Tensor, weight: Tensor, num_nodes: int) -> Tensor:
    # (row sums + column sums) / 2: the degrees of the symmetrized affinity (W + W^T) / 2. For an
    # undirected edge_index (both directions stored, PyG's convention) this is exactly W 1; for a
    # directed one it keeps d consistent with the quadratic form s^T W s = s^T (W + W^T)/2 s, so
    # the cut is always that of a symmetric graph and stays non-negative.
    deg = weight.new_zeros(num_nodes)
    deg.index_add_(0, row, weight)
    deg.index_add_(0, col, weight)
    return deg * 0.5


def ncut_statistics(
    s: Tensor,
    edge_index: Adj,
    edge_weight: Optional[Tensor] = None,
    *,
    deg: Optional[Tensor] = None,
    batch: Optional[Tensor] = None,
    num_graphs: Optional[int] = None,
    node_weight: Optional[Tensor] = None,
) -> NcutStatistics:
    r"""Per-cluster sums of the relaxed normalized cut of a sparse graph.

    Args:
        s (torch.Tensor): Soft memberships :math:`\mathbf{S}`, shape ``[N, k]``, ``k >= 2``.
        edge_index (torch.Tensor or SparseTensor): The affinity :math:`\mathbf{W}` in any form
            PyG's ``Adj`` allows: a ``[2, E]`` index tensor, a ``torch_sparse.SparseTensor`` or a
            torch sparse (COO/CSR) tensor of shape ``[N, N]``. Undirected graphs store both
            directions, as PyG does.
        edge_weight (torch.Tensor, optional): Non-negative weights ``[E]`` for an index tensor.
        deg (torch.Tensor, optional): Degrees ``[N]`` to use instead of the row sums of
            ``edge_index``: the full graph's degrees when ``edge_index`` holds only part of the
            graph (a sampled mini-batch), so that volumes refer to the whole graph.
        batch (torch.Tensor, optional): Graph assignment ``[N]`` of each node, for a batch of
            disjoint graphs; the sums are then taken per graph.
        num_graphs (int, optional): Number of graphs when ``batch`` is given.
        node_weight (torch.Tensor, optional): The per-node weight :math:`\mathbf{v}` ``[N]``
            (non-negative) of the volumes and of the Gram matrix: ``vol = v^T S`` and
            ``gram = S^T diag(v) S``, while the cut numerators keep the Laplacian of the graph.
            ``None`` takes the degrees (the normalized cut); ``torch.ones(N)`` gives the
            statistics of the *ratio cut* (volumes are node counts), see
            :func:`relaxed_ratio_cut_loss`. (default: ``None``)

    Returns:
        :class:`NcutStatistics`, with a leading ``[B]`` dimension when ``batch`` is given.
    """
    validate_memberships(s, "s")
    num_nodes, k = s.shape
    row, col, weight = as_coo(edge_index, edge_weight, num_nodes=num_nodes, dtype=s.dtype)

    if deg is None:
        deg = _degree(row, col, weight, num_nodes)
    else:
        _validate_deg(deg, num_nodes)
        deg = deg.to(s.dtype)

    ws = spmm(edge_index, row, col, weight, s)  # W S, [N, k]
    ds = deg.unsqueeze(-1) * s  # D S, [N, k]
    # s_j^T L s_j = sum_i s_ij (D S - W S)_ij, summed node by node so that any subset of nodes
    # (with its full rows of W) gives a partial sum.
    node_cut = s * (ds - ws)  # [N, k]
    if node_weight is not None:
        _validate_node_weight(node_weight, num_nodes)
        ds = node_weight.to(s.dtype).unsqueeze(-1) * s  # V S: volumes and Gram by node weight

    if batch is None:
        return NcutStatistics(node_cut.sum(0), ds.sum(0), ds.t() @ s)

    if batch.dim() != 1 or batch.numel() != num_nodes:
        raise ValueError(f"batch must have shape [{num_nodes}], got {list(batch.shape)}")
    b = int(batch.max()) + 1 if num_graphs is None else int(num_graphs)
    cut_num = s.new_zeros(b, k).index_add_(0, batch, node_cut)
    vol = s.new_zeros(b, k).index_add_(0, batch, ds)
    s_dense, _ = to_dense_batch(s, batch, batch_size=b)  # [B, Nmax, k], zero padded
    ds_dense, _ = to_dense_batch(ds, batch, batch_size=b)
    return NcutStatistics(cut_num, vol, ds_dense.transpose(1, 2) @ s_dense)


def dense_ncut_statistics(s: Tensor, adj: Tensor, mask: Optional[Tensor] = None) -> NcutStatistics:
    r"""Per-cluster sums for a batch of dense graphs, as used by ``DMoNPooling``-style layers.

    Args:
        s (torch.Tensor): Memberships ``[B, N, k]`` (or ``[N, k]``).
        adj (torch.Tensor): Dense symmetric affinities ``[B, N, N]`` (or ``[N, N]``).
        mask (torch.BoolTensor, optional): ``[B, N]``, ``False`` for padding nodes.

    Returns:
        :class:`NcutStatistics` with shapes ``[B, k]``, ``[B, k]``, ``[B, k, k]``.
    """
    s = s.unsqueeze(0) if s.dim() == 2 else s
    adj = adj.unsqueeze(0) if adj.dim() == 2 else adj
    if s.dim() != 3:
        raise ValueError(f"s must have shape [B, N, k], got {list(s.shape)}")
    bsz, n, k = s.shape
    if k < 2:
        raise ValueError(f"s must have at least 2 clusters (columns), got k={k}")
    if adj.shape != (bsz, n, n):
        raise ValueError(f"adj must have shape [{bsz}, {n}, {n}] to match s, got {list(adj.shape)}")
    if mask is not None:
        if mask.shape != (bsz, n):
            raise ValueError(f"mask must have shape [{bsz}, {n}], got {list(mask.shape)}")
        m = mask.to(s.dtype).unsqueeze(-1)
        s = s * m
    if not all_finite(s):
        raise ValueError("s contains NaN or infinite values")
    if not all_finite(adj):
        raise ValueError("adj contains NaN or infinite values")
    if bool((adj < 0).any()):
        raise ValueError("adj must be non-negative: a normalized cut needs non-negative affinities")
    adj = adj.to(s.dtype)
    adj = 0.5 * (adj + adj.transpose(1, 2))  # the same symmetrization as the sparse path
    deg = adj.sum(-1)  # [B, N]
    ws = adj @ s
    ds = deg.unsqueeze(-1) * s
    return NcutStatistics((s * (ds - ws)).sum(1), ds.sum(1), ds.transpose(1, 2) @ s)


def ncut_loss_from_statistics(stats: NcutStatistics, gamma: float = DEFAULT_GAMMA) -> NcutLossOutput:
    r"""Forms ``(loss, cut, orth)`` from complete per-cluster sums.

    Empty clusters (zero volume) contribute nothing to the cut and a full unit to the
    orthogonality penalty, with finite values and gradients.
    """
    cut_num, vol, gram = stats
    k = vol.size(-1)
    # Volumes are floored relative to the total volume: an empty cluster then has a zero cut term
    # (its numerator is zero too) rather than 0/0, and the floor is far below any real cluster.
    total = vol.detach().sum(-1, keepdim=True)
    tiny = torch.finfo(vol.dtype).eps
    safe_vol = torch.maximum(vol, (total * tiny).clamp_min(torch.finfo(vol.dtype).tiny))
    cut = (cut_num / safe_vol).sum(-1)
    inv_sqrt = safe_vol.rsqrt()
    hdh = gram * inv_sqrt.unsqueeze(-1) * inv_sqrt.unsqueeze(-2)  # H^T D H
    eye = torch.eye(k, dtype=gram.dtype, device=gram.device)
    orth = torch.linalg.matrix_norm(hdh - eye, ord="fro") / k
    return NcutLossOutput(cut + 0.5 * gamma * orth, cut, orth)


def relaxed_ncut_loss(
    s: Tensor,
    edge_index: Adj,
    edge_weight: Optional[Tensor] = None,
    *,
    deg: Optional[Tensor] = None,
    gamma: float = DEFAULT_GAMMA,
) -> NcutLossOutput:
    r"""The relaxed normalized cut of NeuNcut on a sparse graph.

    .. math::
        \mathcal{L} = \sum_{j=1}^{k} \frac{\mathbf{s}_j^{\top}\mathbf{L}\,\mathbf{s}_j}{\mathrm{vol}_j}
            + \frac{\gamma}{2} \cdot \frac{1}{k}\left\|\mathbf{H}^{\top}\mathbf{D}\mathbf{H}
            - \mathbf{I}_k\right\|_F,
        \qquad \mathbf{H} = \mathbf{S}\,\mathrm{diag}(\mathbf{d}^{\top}\mathbf{S})^{-1/2}

    Args:
        s (torch.Tensor): Soft memberships ``[N, k]`` (softmax output), ``2 <= k <= N``.
        edge_index (torch.Tensor or SparseTensor): Affinity in any ``Adj`` form (see
            :func:`ncut_statistics`).
        edge_weight (torch.Tensor, optional): Non-negative edge weights ``[E]``.
        deg (torch.Tensor, optional): Degrees ``[N]`` overriding the row sums of the given edges
            (the full graph's degrees for a mini-batch).
        gamma (float): Weight of the orthogonality penalty. (default: ``80.0``, the paper's)

    Returns:
        :class:`NcutLossOutput` ``(loss, cut, orth)`` of scalars.

    Raises:
        ValueError: on malformed shapes, ``k < 2`` or ``k > N``, out-of-range indices,
            NaN/inf values or negative weights.

    Example:
        >>> s = model(x, edge_index)              # softmax memberships [N, k]
        >>> loss, cut, orth = relaxed_ncut_loss(s, edge_index)
        >>> loss.backward()
    """
    validate_memberships(s, "s")
    if s.size(1) > s.size(0):
        raise ValueError(
            f"k={s.size(1)} clusters cannot be formed from N={s.size(0)} nodes: need k <= N"
        )
    validate_gamma(gamma)
    stats = ncut_statistics(s, edge_index, edge_weight, deg=deg)
    return ncut_loss_from_statistics(stats, gamma)


class RelaxedNcutLoss(torch.nn.Module):
    r"""Module form of :func:`relaxed_ncut_loss`.

    Args:
        gamma (float): Weight of the orthogonality penalty. (default: ``80.0``)

    Shapes:
        - **input:** memberships ``[N, k]``, ``edge_index`` (any ``Adj``), optional
          ``edge_weight [E]`` and ``deg [N]``
        - **output:** :class:`NcutLossOutput` of scalars ``(loss, cut, orth)``

    Example:
        >>> criterion = RelaxedNcutLoss(gamma=80.0)
        >>> out = criterion(model(x, edge_index), edge_index)
        >>> out.loss.backward()
    """

    def __init__(self, gamma: float = DEFAULT_GAMMA) -> None:
        super().__init__()
        validate_gamma(gamma)
        self.gamma = float(gamma)

    def forward(
        self,
        s: Tensor,
        edge_index: Adj,
        edge_weight: Optional[Tensor] = None,
        deg: Optional[Tensor] = None,
    ) -> NcutLossOutput:
        return relaxed_ncut_loss(s, edge_index, edge_weight, deg=deg, gamma=self.gamma)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}"


# ---------------------------------------------------------------------------------------------
# Variants of the spectral objective, through the same statistics
# ---------------------------------------------------------------------------------------------

#: Weight of the collapse regularizer of :func:`modularity_loss_from_statistics` (DMoN's default).
DEFAULT_COLLAPSE_WEIGHT: float = 1.0

_COLLAPSE_KINDS = ("volume", "size")


def relaxed_ratio_cut_loss(
    s: Tensor,
    edge_index: Adj,
    edge_weight: Optional[Tensor] = None,
    *,
    deg: Optional[Tensor] = None,
    gamma: float = DEFAULT_GAMMA,
) -> NcutLossOutput:
    r"""The relaxed *ratio cut*: the normalized cut with node counts in place of volumes.

    .. math::
        \mathcal{L}_{\mathrm{cut}} = \sum_{j=1}^{k}
            \frac{\mathbf{s}_j^{\top}\mathbf{L}\,\mathbf{s}_j}{\mathbf{1}^{\top}\mathbf{s}_j},
        \qquad
        \mathcal{L}_{\mathrm{orth}} = \frac{1}{k}\left\|\mathbf{H}^{\top}\mathbf{H}
            - \mathbf{I}_k\right\|_F,
        \qquad \mathbf{H} = \mathbf{S}\,\mathrm{diag}(\mathbf{1}^{\top}\mathbf{S})^{-1/2}

    and ``loss = cut + gamma / 2 * orth``. For one-hot :math:`\mathbf{S}` the cut is the discrete
    ratio cut :math:`\sum_j \mathrm{cut}(C_j, \bar{C}_j) / |C_j|` and ``orth`` is 0. It balances
    clusters by their number of nodes rather than by their number of edges.

    It is :func:`ncut_loss_from_statistics` applied to :func:`ncut_statistics` with
    ``node_weight=torch.ones(N)``: mini-batch and distributed training form it the same way
    (sum the statistics, then take the ratio).

    Args:
        s (torch.Tensor): Soft memberships ``[N, k]``, ``2 <= k <= N``.
        edge_index (torch.Tensor or SparseTensor): Affinity in any ``Adj`` form.
        edge_weight (torch.Tensor, optional): Non-negative edge weights ``[E]``.
        deg (torch.Tensor, optional): Degrees ``[N]`` of the Laplacian, overriding the row sums
            of the given edges (the full graph's degrees for a mini-batch).
        gamma (float): Weight of the orthogonality penalty. (default: ``80.0``)

    Returns:
        :class:`NcutLossOutput` ``(loss, cut, orth)`` of scalars.

    Raises:
        ValueError: as :func:`relaxed_ncut_loss`.
    """
    _validate_k(s)
    validate_gamma(gamma)
    ones = s.new_ones(s.size(0))
    stats = ncut_statistics(s, edge_index, edge_weight, deg=deg, node_weight=ones)
    return ncut_loss_from_statistics(stats, gamma)


class ModularityLossOutput(NamedTuple):
    r"""The negated soft modularity with a collapse regularizer, and its two terms.

    ``loss = -modularity + collapse_weight * collapse``. Each is a scalar, or ``[B]`` for a batch
    of graphs.
    """

    loss: Tensor
    modularity: Tensor
    collapse: Tensor


def modularity_loss_from_statistics(
    stats: NcutStatistics,
    collapse_weight: float = DEFAULT_COLLAPSE_WEIGHT,
    *,
    cluster_sizes: Optional[Tensor] = None,
) -> ModularityLossOutput:
    r"""Forms the soft modularity loss from complete, *degree-weighted* per-cluster sums.

    The statistics of :func:`ncut_statistics` (default ``node_weight``: the degrees) hold all
    that Newman's modularity needs: the diagonal of the Gram matrix is
    :math:`\mathbf{s}_j^{\top}\mathbf{D}\mathbf{s}_j`, so the within-cluster weight is
    :math:`\mathbf{s}_j^{\top}\mathbf{W}\mathbf{s}_j = \mathrm{gram}_{jj} - \mathrm{cut\_num}_j`;
    and for rows of :math:`\mathbf{S}` that sum to one, :math:`2m = \sum_i d_i = \sum_j \mathrm{vol}_j`.
    Then

    .. math::
        Q = \frac{1}{2m}\sum_{j=1}^{k}\left[\mathbf{s}_j^{\top}\mathbf{W}\mathbf{s}_j
            - \frac{\mathrm{vol}_j^2}{2m}\right],

    which for one-hot :math:`\mathbf{S}` is the modularity of the partition. Maximizing :math:`Q`
    alone lets a soft assignment spread over few clusters; the regularizer keeps all :math:`k` in
    use. DMoN's (Tsitsulin et al., JMLR 2023) is
    :math:`\frac{\sqrt{k}}{n}\|\sum_i \mathbf{s}_i\|_2 - 1`, on cluster *sizes*, which are not
    among the statistics. From the statistics alone, its volume analogue is used:

    .. math::
        \mathcal{R}_{\mathrm{vol}} = \frac{\sqrt{k}}{2m}\,\|\mathrm{vol}\|_2 - 1
            \in [0, \sqrt{k} - 1],

    0 for clusters of equal volume and :math:`\sqrt{k} - 1` when all volume is in one cluster
    (by Cauchy-Schwarz), the same range as DMoN's. Volumes are what the modularity's null model
    weighs, and a mini-batch or a rank gets them from the sums it already has. When the sizes
    :math:`\sum_i \mathbf{s}_i` are at hand (an additive ``[k]`` sum as well: ``s.sum(0)``), pass
    them as ``cluster_sizes`` to get DMoN's regularizer exactly, with :math:`n = \sum_j`
    ``cluster_sizes[j]``.

    Args:
        stats (NcutStatistics): Complete sums from :func:`ncut_statistics` (or
            :func:`dense_ncut_statistics`) with degree weights, shapes ``[k]``, ``[k]``,
            ``[k, k]`` or with a leading ``[B]``.
        collapse_weight (float): Weight of the collapse regularizer, ``>= 0``. (default: ``1.0``)
        cluster_sizes (torch.Tensor, optional): :math:`\sum_i \mathbf{s}_i`, shape ``[k]`` (or
            ``[B, k]``), for DMoN's size-based regularizer. (default: ``None``: volume-based)

    Returns:
        :class:`ModularityLossOutput` ``(loss, modularity, collapse)``.

    Raises:
        ValueError: if ``collapse_weight`` is negative or not finite, or ``cluster_sizes`` does
            not match the statistics.

    A graph without edges has no modularity: its :math:`2m` is floored to the smallest positive
    float so that values stay finite; :func:`relaxed_modularity_loss` raises on it instead.
    """
    _validate_collapse_weight(collapse_weight)
    cut_num, vol, gram = stats
    k = vol.size(-1)
    tiny = torch.finfo(vol.dtype).tiny
    two_m = vol.sum(-1).clamp_min(tiny)  # [..]
    intra = torch.diagonal(gram, dim1=-2, dim2=-1) - cut_num  # s_j^T W s_j
    modularity = (intra.sum(-1) - vol.pow(2).sum(-1) / two_m) / two_m
    if cluster_sizes is None:
        collapse = math.sqrt(k) * torch.linalg.vector_norm(vol, dim=-1) / two_m - 1.0
    else:
        if not isinstance(cluster_sizes, Tensor) or cluster_sizes.shape != vol.shape:
            got = list(cluster_sizes.shape) if isinstance(cluster_sizes, Tensor) else type(cluster_sizes).__name__
            raise ValueError(f"cluster_sizes must have the shape of the volumes {list(vol.shape)}, got {got}")
        n = cluster_sizes.sum(-1).clamp_min(tiny)
        collapse = math.sqrt(k) * torch.linalg.vector_norm(cluster_sizes, dim=-1) / n - 1.0
    return ModularityLossOutput(-modularity + collapse_weight * collapse, modularity, collapse)


def relaxed_modularity_loss(
    s: Tensor,
    edge_index: Adj,
    edge_weight: Optional[Tensor] = None,
    *,
    deg: Optional[Tensor] = None,
    collapse_weight: float = DEFAULT_COLLAPSE_WEIGHT,
    collapse: str = "volume",
) -> ModularityLossOutput:
    r"""The soft modularity loss of DMoN on a sparse graph: :math:`-Q` plus a collapse regularizer.

    .. math::
        Q = \frac{1}{2m}\,\mathrm{tr}\!\left(\mathbf{S}^{\top}\mathbf{W}\mathbf{S}
            - \frac{\mathbf{S}^{\top}\mathbf{d}\,\mathbf{d}^{\top}\mathbf{S}}{2m}\right),
        \qquad 2m = \mathbf{1}^{\top}\mathbf{d}

    computed through :func:`ncut_statistics` and :func:`modularity_loss_from_statistics`
    (see there for the regularizer), so that it costs what the normalized cut costs and
    mini-batch / distributed training reuse the same sums.

    Args:
        s (torch.Tensor): Soft memberships ``[N, k]``, rows summing to one, ``2 <= k <= N``.
        edge_index (torch.Tensor or SparseTensor): Affinity in any ``Adj`` form.
        edge_weight (torch.Tensor, optional): Non-negative edge weights ``[E]``.
        deg (torch.Tensor, optional): Degrees ``[N]`` overriding the row sums of the given edges.
        collapse_weight (float): Weight of the collapse regularizer. (default: ``1.0``)
        collapse (str): ``"volume"`` (:math:`\frac{\sqrt{k}}{2m}\|\mathrm{vol}\|_2 - 1`, from the
            statistics) or ``"size"`` (DMoN's :math:`\frac{\sqrt{k}}{N}\|\sum_i\mathbf{s}_i\|_2 - 1`).
            (default: ``"volume"``)

    Returns:
        :class:`ModularityLossOutput` ``(loss, modularity, collapse)`` of scalars.

    Raises:
        ValueError: as :func:`relaxed_ncut_loss`, for a graph of zero total weight (modularity
            is undefined), a negative ``collapse_weight`` or an unknown ``collapse``.
    """
    _validate_k(s)
    _validate_collapse_weight(collapse_weight)
    if collapse not in _COLLAPSE_KINDS:
        raise ValueError(f"collapse must be one of {_COLLAPSE_KINDS}, got {collapse!r}")
    stats = ncut_statistics(s, edge_index, edge_weight, deg=deg)
    if not bool(stats.vol.detach().sum() > 0):
        raise ValueError("modularity is undefined for a graph with no edges (total edge weight is 0)")
    sizes = s.sum(0) if collapse == "size" else None
    return modularity_loss_from_statistics(stats, collapse_weight, cluster_sizes=sizes)


def _validate_k(s: Tensor) -> None:
    validate_memberships(s, "s")
    if s.size(1) > s.size(0):
        raise ValueError(
            f"k={s.size(1)} clusters cannot be formed from N={s.size(0)} nodes: need k <= N"
        )


def _validate_collapse_weight(weight: float) -> None:
    check_real(weight, "collapse_weight", minimum=0.0)


def _validate_node_weight(node_weight: Tensor, num_nodes: int) -> None:
    if not isinstance(node_weight, Tensor):
        raise TypeError(f"node_weight must be a tensor, got {type(node_weight).__name__}")
    if node_weight.dim() != 1 or node_weight.numel() != num_nodes:
        raise ValueError(
            f"node_weight must have shape [{num_nodes}] (one weight per row of s), got {list(node_weight.shape)}"
        )
    if node_weight.dtype == torch.bool or node_weight.is_complex():
        raise ValueError(f"node_weight must hold real numbers, got {node_weight.dtype}")
    weight = node_weight if node_weight.is_floating_point() else node_weight.double()
    if not all_finite(weight):
        raise ValueError("node_weight contains NaN or infinite values")
    if bool((weight < 0).any()):
        raise ValueError("node_weight must be non-negative")


def validate_gamma(gamma: float) -> None:
    """Checks the orthogonality weight: a finite number ``>= 0``."""
    check_real(gamma, "gamma", minimum=0.0)


def _validate_deg(deg: Tensor, num_nodes: int) -> None:
    if deg.dim() != 1 or deg.numel() != num_nodes:
        raise ValueError(f"deg must have shape [{num_nodes}] (one degree per row of s), got {list(deg.shape)}")
    if not all_finite(deg):
        raise ValueError("deg contains NaN or infinite values")
    if bool((deg < 0).any()):
        raise ValueError("deg must be non-negative")

