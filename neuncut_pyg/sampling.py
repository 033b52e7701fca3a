r"""Full-graph normalized-cut statistics estimated from sampled mini-batches.

A :class:`~torch_geometric.loader.NeighborLoader` batch holds ``batch_size`` *seed* nodes (the
first rows) and the neighbours sampled around them. Taking the batch's subgraph as if it were
the whole graph would give the wrong objective: its degrees, volumes and cut are those of a small
sampled graph. Instead, every statistic of the relaxed normalized cut is a sum over nodes
(see :class:`~neuncut_pyg.loss.NcutStatistics`), and each seed node's term can be computed from
what the batch carries:

.. math::
    \mathrm{vol}_j \mathrel{+}= d_i\, s_{ij}, \qquad
    (\mathbf{S}^{\top}\mathbf{D}\mathbf{S})_{jl} \mathrel{+}= d_i\, s_{ij} s_{il}, \qquad
    \mathbf{s}_j^{\top}\mathbf{L}\mathbf{s}_j \mathrel{+}= s_{ij}\Big(d_i s_{ij}
        - \frac{n_i}{c_i} \sum_{v \in \mathcal{N}_{\mathrm{sampled}}(i)} w_{iv}\, s_{vj}\Big)

with :math:`d_i` the node's degree *in the full graph* (a node attribute that travels with the
batch), :math:`n_i` its number of neighbours in the full graph and :math:`c_i` the number the
sampler kept. Neighbours are sampled uniformly, so :math:`\frac{n_i}{c_i}\sum_{\mathrm{sampled}}`
is an unbiased estimate of the sum over all neighbours (exact when every neighbour is kept).
Summed over the batches of an epoch the seed terms give the full-graph statistics; one batch,
scaled by :math:`N / B`, is an unbiased estimate of them.

The neighbours' memberships enter only the cut numerators. :class:`MembershipCache` keeps every
node's memberships as last computed (no gradient, refreshed as seeds pass, as historical
embeddings do in GNNAutoScale), so that a step runs the encoder on the seeds alone and reads
each seed's *whole* neighbourhood from the cache (:func:`cached_seed_statistics`).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_sparse import SparseTensor

from neuncut_pyg.adjacency import Adj, as_coo, csr_matrix, validate_memberships
from neuncut_pyg.loss import NcutStatistics, _degree, ncut_statistics

__all__ = [
    "seed_ncut_statistics",
    "estimate_ncut_statistics",
    "sampling_data",
    "batch_estimate",
    "cached_seed_statistics",
    "MembershipCache",
]


def sampling_data(x: Tensor, edge_index: Adj, edge_weight: Optional[Tensor] = None, *, num_nodes: int) -> Data:
    r"""The graph as a ``NeighborLoader`` should sample it for the relaxed normalized cut.

    Returns a :class:`~torch_geometric.data.Data` with ``x``, the checked ``edge_index`` (and
    ``edge_weight`` when given) and two node attributes that travel with every batch:

    - ``deg``: the node's degree in the *full* graph (the loss's volumes),
    - ``count``: its number of incoming edges, the population the sampler draws from
      (``NeighborLoader`` samples the edges ``j -> i`` of a node ``i`` it expands).

    The graph should be undirected (both directions stored, PyG's convention): a seed's sampled
    in-neighbours then estimate its row of :math:`\mathbf{W}`.
    """
    if x.size(0) != num_nodes:
        raise ValueError(f"x has {x.size(0)} rows but the graph has {num_nodes} nodes")
    row, col, weight = as_coo(edge_index, edge_weight, num_nodes=num_nodes,
                              dtype=x.dtype if x.is_floating_point() else torch.float32)
    if isinstance(edge_index, Tensor) and edge_index.layout == torch.strided and edge_index.dtype == torch.long:
        index = edge_index  # row and col are views of it: no graph-sized copy (GBs at OGB scale)
    else:
        index = torch.stack([row, col])
    data = Data(x=x, edge_index=index, num_nodes=num_nodes)
    if not bool((weight == 1).all()):  # unit weights need not travel with the batches
        data.edge_weight = weight
    data.deg = _degree(row, col, weight, num_nodes)
    data.count = torch.bincount(col, minlength=num_nodes)
    return data


def batch_estimate(s: Tensor, batch: Data, num_nodes: int) -> NcutStatistics:
    """:func:`estimate_ncut_statistics` of a batch of :func:`sampling_data` (its attributes
    ``edge_index``, ``batch_size``, ``deg``, ``count`` and optional ``edge_weight``)."""
    return estimate_ncut_statistics(s, batch.edge_index, batch.batch_size, batch.deg, num_nodes,
                                    edge_weight=getattr(batch, "edge_weight", None),
                                    num_neighbors=batch.count)


def seed_ncut_statistics(
    s: Tensor,
    edge_index: Tensor,
    batch_size: int,
    deg: Tensor,
    *,
    edge_weight: Optional[Tensor] = None,
    num_neighbors: Optional[Tensor] = None,
) -> NcutStatistics:
    r"""The seed nodes' terms of the full-graph statistics (partial sums, not scaled).

    Args:
        s (torch.Tensor): Memberships of every node of the batch ``[n, k]``; rows
            ``0 .. batch_size - 1`` are the seeds.
        edge_index (torch.Tensor): The batch's edges ``[2, e]`` in PyG's sampling orientation
            (``edge_index[1]`` is the node whose neighbours were sampled, as
            ``NeighborLoader`` gives them).
        batch_size (int): Number of seed nodes.
        deg (torch.Tensor): Full-graph (weighted) degree of every node of the batch ``[n]``.
        edge_weight (torch.Tensor, optional): Weights of the batch's edges ``[e]``.
        num_neighbors (torch.Tensor, optional): Full-graph neighbour count of every node of the
            batch ``[n]``: the population the sampler drew from. Defaults to ``deg``, right for
            unweighted graphs.

    Returns:
        :class:`~neuncut_pyg.loss.NcutStatistics` summed over the seed nodes.
    """
    validate_memberships(s, "s")
    n = s.size(0)
    if not 0 < batch_size <= n:
        raise ValueError(f"batch_size must be in 1..{n} (the batch's node count), got {batch_size}")
    if deg.dim() != 1 or deg.numel() != n:
        raise ValueError(f"deg must hold the full-graph degree of each of the {n} batch nodes, got shape {list(deg.shape)}")
    if num_neighbors is None:
        num_neighbors = deg
    elif num_neighbors.dim() != 1 or num_neighbors.numel() != n:
        raise ValueError(f"num_neighbors must have shape [{n}], got {list(num_neighbors.shape)}")

    src, dst = edge_index[0], edge_index[1]
    to_seed = dst < batch_size  # the seeds' own sampled neighbourhoods; deeper hops feed the encoder only
    src, dst = src[to_seed], dst[to_seed]
    weight = torch.ones(dst.numel(), dtype=s.dtype, device=s.device) if edge_weight is None else edge_weight[to_seed].to(s.dtype)
    kept = torch.zeros(batch_size, dtype=s.dtype, device=s.device).index_add_(0, dst, torch.ones_like(weight))
    # n_i / c_i turns the sampled neighbourhood sum into an unbiased estimate of the full one.
    inverse_rate = num_neighbors[:batch_size].to(s.dtype) / kept.clamp_min(1)
    weight = weight * inverse_rate[dst]

    seed_deg = torch.zeros(n, dtype=s.dtype, device=s.device)
    seed_deg[:batch_size] = deg[:batch_size].to(s.dtype)
    # Rows of W restricted to the seeds: row = seed, column = its sampled neighbour.
    return ncut_statistics(s, torch.stack([dst, src]), weight, deg=seed_deg)


def estimate_ncut_statistics(
    s: Tensor,
    edge_index: Tensor,
    batch_size: int,
    deg: Tensor,
    num_nodes: int,
    *,
    edge_weight: Optional[Tensor] = None,
    num_neighbors: Optional[Tensor] = None,
) -> NcutStatistics:
    r"""An unbiased estimate of the full graph's statistics from one batch: the seed terms of
    :func:`seed_ncut_statistics` scaled by ``num_nodes / batch_size``.

    Feed the result to :func:`~neuncut_pyg.loss.ncut_loss_from_statistics` for the batch loss.
    """
    stats = seed_ncut_statistics(s, edge_index, batch_size, deg, edge_weight=edge_weight, num_neighbors=num_neighbors)
    return stats.scale(num_nodes / batch_size)


def cached_seed_statistics(s: Tensor, deg: Tensor, neighbour_sum: Tensor) -> NcutStatistics:
    r"""The seed nodes' terms of the full-graph statistics (partial sums, not scaled), with the
    neighbours' memberships read from a cache.

    With :math:`\mathbf{m}_i = \sum_v w_{iv}\bar{\mathbf{s}}_v` the seed's neighbourhood sum
    over cached (constant) memberships :math:`\bar{\mathbf{s}}`, the cut term is written

    .. math::
        s_{ij}(d_i s_{ij} - 2 m_{ij}) + \mathrm{sg}[s_{ij} m_{ij}],

    whose *value* is the seed's term :math:`s_{ij}(d_i s_{ij} - m_{ij})` and whose *gradient*,
    :math:`2(d_i s_{ij} - m_{ij})`, is that of :math:`\mathbf{s}_j^{\top}\mathbf{L}\mathbf{s}_j`
    with respect to :math:`s_{ij}` on a symmetric graph: summed over an epoch's seeds, with a
    fresh cache, both equal the full-graph ones (tested).

    Args:
        s (torch.Tensor): Memberships of the seeds ``[B, k]``, with gradients.
        deg (torch.Tensor): The seeds' full-graph degrees ``[B]``.
        neighbour_sum (torch.Tensor): :math:`\mathbf{W}_{\mathrm{seeds},:}\bar{\mathbf{S}}` ``[B, k]``.
    """
    validate_memberships(s, "s")
    if deg.shape != (s.size(0),) or neighbour_sum.shape != s.shape:
        raise ValueError(f"deg must be [{s.size(0)}] and neighbour_sum {list(s.shape)}, got "
                         f"{list(deg.shape)} and {list(neighbour_sum.shape)}")
    m = neighbour_sum.detach().to(s.dtype)
    ds = deg.to(s.dtype).unsqueeze(-1) * s
    cut = (s * (ds - 2.0 * m)).sum(0) + (s * m).detach().sum(0)
    return NcutStatistics(cut, ds.sum(0), ds.t() @ s)


class MembershipCache:
    r"""Every node's memberships as last computed, without gradients, and the estimator of the
    full graph's statistics that reads them (:func:`cached_seed_statistics`).

    Each call of :meth:`statistics` reads the seeds' whole neighbourhoods from the cache, one
    row gather of :math:`\mathbf{W}` (:math:`O(\sum_{i \in b} d_i k)`), then stores the seeds'
    new memberships: nodes are at most one epoch stale. :meth:`reset` refreshes every node (a
    full inference pass), as at the start of a run.

    Args:
        adj (SparseTensor): The full graph's affinity :math:`\mathbf{W}` (symmetric).
        deg (torch.Tensor): Full-graph degrees ``[N]``.
    """

    def __init__(self, adj: SparseTensor, deg: Tensor) -> None:
        self.rowptr, self.col, self.weight = adj.csr()
        self.num_nodes = adj.size(1)
        self.deg = deg
        self.values: Optional[Tensor] = None

    def reset(self, memberships: Tensor) -> None:
        """Sets every node's cached memberships ``[N, k]``."""
        self.values = memberships.detach().clone()

    def neighbour_sum(self, seeds: Tensor) -> Tensor:
        r""":math:`\mathbf{W}_{\mathrm{seeds},:}\bar{\mathbf{S}}` ``[B, k]``: the seeds' rows of
        :math:`\mathbf{W}` gathered into a torch CSR matrix, times the cache."""
        counts = self.rowptr[seeds + 1] - self.rowptr[seeds]
        crow = torch.zeros(seeds.numel() + 1, dtype=torch.long, device=seeds.device)
        torch.cumsum(counts, 0, out=crow[1:])
        total = int(crow[-1])
        edges = torch.arange(total, device=seeds.device) + torch.repeat_interleave(
            self.rowptr[seeds] - crow[:-1], counts, output_size=total)
        weight = torch.ones(total, dtype=self.values.dtype) if self.weight is None \
            else self.weight[edges].to(self.values.dtype)
        return csr_matrix(crow, self.col[edges], weight, (seeds.numel(), self.num_nodes)) @ self.values

    def statistics(self, s: Tensor, seeds: Tensor, scale: float = 1.0) -> NcutStatistics:
        """The seeds' terms (times ``scale``, e.g. ``N / B`` for an unbiased estimate), then
        the seeds' memberships ``s`` are cached."""
        if self.values is None:
            raise RuntimeError("MembershipCache: call reset(memberships) before reading it")
        stats = cached_seed_statistics(s, self.deg[seeds], self.neighbour_sum(seeds))
        self.values[seeds] = s.detach().to(self.values.dtype)
        return stats.scale(scale) if scale != 1.0 else stats
