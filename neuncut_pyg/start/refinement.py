r"""Discrete refinement of a partition by merge-split moves.

:math:`k`-means on a spectral embedding, and any local descent on the relaxed normalized cut,
can stop at a partition that halves a large community and merges two small ones: leaving it
takes two coordinated moves, a merge and a split, and each alone makes the partition worse.
Communities of very different sizes make this common. :func:`merge_split_refinement` makes such
moves while they improve the partition; the method's start
(:func:`~neuncut_pyg.start.smoothed_feature_clustering`) applies it to its result.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
from numpy.typing import NDArray
from torch import Tensor

from neuncut_pyg._validation import check_int
from neuncut_pyg.adjacency import Adj, edge_arrays
from neuncut_pyg.metrics import cluster_pair_weights, modularity_from_sums
from neuncut_pyg.start.embedding import kmeans_labels, sample_centres

__all__ = ["merge_split_refinement", "MergeSplitRefinement"]

# Above this many rows a cluster's bisection is fitted on a random sample of them.
_BISECTION_SAMPLE = 20_000
_BISECTION_RESTARTS = 3
# With more clusters than this, only the 4k pairs whose merge lowers the Ncut most are paired
# with every split (k^3 triples would not fit).
_ALL_PAIRS_MAX_CLUSTERS = 128


class MergeSplitRefinement(NamedTuple):
    """Result of :func:`merge_split_refinement`."""

    #: Cluster labels ``[N]``, ``int64`` in ``0..k-1``.
    labels: NDArray[np.int64]
    #: The number of merge-split moves made.
    moves: int
    #: Discrete normalized cut of ``labels``.
    ncut: float
    #: Newman modularity of ``labels``.
    modularity: float


def _ncut_terms(vol: NDArray[np.float64], inside: NDArray[np.float64]) -> NDArray[np.float64]:
    """``cut / vol`` per cluster; ``0`` for a cluster of zero volume (as
    :func:`~neuncut_pyg.metrics.normalized_cut` leaves it out)."""
    terms = np.zeros_like(vol)
    positive = vol > 0
    terms[positive] = np.clip(vol[positive] - inside[positive], 0.0, None) / vol[positive]
    return terms


def _bisect(points: NDArray[np.float64], seed: int) -> NDArray[np.int64]:
    """0/1 sides of 2-means on ``points``; a large cluster's centres are fitted on a sample and
    every row goes to the nearer one (one matrix-vector product)."""
    if points.shape[0] <= _BISECTION_SAMPLE:
        return kmeans_labels(points, 2, seed=seed, n_init=_BISECTION_RESTARTS)
    c0, c1 = sample_centres(points, 2, n_init=_BISECTION_RESTARTS, seed=seed, sample_size=_BISECTION_SAMPLE)
    # |p - c1|^2 < |p - c0|^2  <=>  2 p . (c1 - c0) > |c1|^2 - |c0|^2
    return (2.0 * (points @ (c1 - c0)) > c1 @ c1 - c0 @ c0).astype(np.int64)


def merge_split_refinement(
    labels: NDArray[np.integer],
    edge_index: Adj,
    embedding: NDArray[np.floating],
    *,
    edge_weight: Optional[Tensor] = None,
    num_clusters: Optional[int] = None,
    max_moves: Optional[int] = None,
    seed: int = 0,
) -> MergeSplitRefinement:
    r"""Improves a :math:`k`-way partition by moves that merge two clusters and bisect a third,
    keeping :math:`k`.

    A move merges clusters :math:`a` and :math:`b` and splits a third cluster :math:`c` in two
    (2-means on its rows of ``embedding``, e.g. the spectral embedding the partition came from).
    With :math:`P_{ab}` the weight between clusters, :math:`\mathrm{vol}_a = \sum_b P_{ab}` and
    :math:`2m = \sum_a \mathrm{vol}_a`, the changes of the discrete normalized cut and of the
    modularity are exact and cheap:

    .. math::
        \Delta\mathrm{Ncut}_{\mathrm{merge}}(a, b) =
            \frac{\mathrm{vol}_a + \mathrm{vol}_b - P_{aa} - P_{bb} - 2P_{ab}}{\mathrm{vol}_a + \mathrm{vol}_b}
            - \frac{\mathrm{vol}_a - P_{aa}}{\mathrm{vol}_a} - \frac{\mathrm{vol}_b - P_{bb}}{\mathrm{vol}_b},
        \qquad
        \Delta Q_{\mathrm{merge}}(a, b) = \frac{2P_{ab}}{2m} - \frac{2\,\mathrm{vol}_a\mathrm{vol}_b}{(2m)^2},

    and a split is the reverse of a merge of its two halves. Each round applies the move
    :math:`(a, b, c)` that lowers the Ncut most **among those that also raise the modularity**,
    and stops when none does (or after ``max_moves``). Both conditions are needed: the Ncut
    alone rewards splitting off disconnected pieces at no cost, which the modularity penalizes;
    and the Ncut is the objective NeuNcut minimizes. (What the moves change on Cora, CiteSeer and
    large planted graphs: ``docs/defaults.md``.)

    Cost per round: one pass over the edges (:math:`O(E)`, the :math:`2k \times 2k` weights
    between cluster halves, from which the :math:`k \times k` ones follow), 2-means of the
    clusters changed by the last move (:math:`O(N_c k)`, fitted on at most 20,000 rows), and
    :math:`O(k^3)` to score the moves (:math:`O(k^2)` pairs, limited to the best :math:`4k` by
    merge gain when :math:`k > 128`). Memory: :math:`O(N + k^2)` beyond the inputs.

    Args:
        labels (numpy.ndarray): Cluster ids ``[N]`` in ``0..k-1``.
        edge_index (Adj): The graph, in any PyG ``Adj`` form.
        embedding (numpy.ndarray): Node coordinates ``[N, D]`` for the bisections.
        edge_weight (torch.Tensor, optional): Non-negative edge weights ``[E]``.
        num_clusters (int, optional): :math:`k`. (default: ``labels.max() + 1``)
        max_moves (int, optional): At most this many moves. (default: ``k``)
        seed (int): Seeds the 2-means. (default: ``0``)

    Returns:
        :class:`MergeSplitRefinement` ``(labels, moves, ncut, modularity)``; ``labels`` is a new
        array.

    Raises:
        ValueError: on labels that are not ``[N]`` integers in ``0..k-1``, an embedding that is
            not ``[N, D]`` or not finite, ``k < 2``, a negative ``max_moves``, a malformed graph
            or one with no edge weight.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array [N], got shape {list(labels.shape)} of {labels.dtype}")
    num_nodes = labels.size
    embedding = np.asarray(embedding)
    if embedding.ndim != 2 or embedding.shape[0] != num_nodes:
        raise ValueError(f"embedding must be [N, D] with N = {num_nodes} (the labels' length), "
                         f"got shape {list(embedding.shape)}")
    if not np.isfinite(embedding).all():
        raise ValueError("embedding contains NaN or infinite values")
    k = int(labels.max()) + 1 if num_clusters is None and num_nodes else num_clusters
    k = check_int(k, "num_clusters", minimum=2)
    if num_nodes and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"labels must lie in [0, {k - 1}], got values in [{labels.min()}, {labels.max()}]")
    max_moves = k if max_moves is None else max_moves
    max_moves = check_int(max_moves, "max_moves", minimum=0)
    row, col, weight = edge_arrays(edge_index, edge_weight, num_nodes=num_nodes)
    if row.size == 0 or (weight is not None and not weight.sum() > 0):
        raise ValueError("the graph has no edge weight: no cut or modularity to improve")

    labels = labels.astype(np.int64)  # a copy: the caller's array is left as it is
    sides = np.zeros(num_nodes, dtype=np.int64)
    stale = set(range(k))  # clusters whose bisection must be (re)computed
    moves = 0
    while True:
        order = np.argsort(labels, kind="stable")
        members = np.split(order, np.cumsum(np.bincount(labels, minlength=k))[:-1])
        if moves < max_moves:  # the last round only scores the partition
            for c in stale:
                sides[members[c]] = _bisect(embedding[members[c]], seed) if members[c].size >= 2 else 0
            stale = set()
        halves = cluster_pair_weights(2 * labels + sides, 2 * k, row, col, weight)
        pairs = halves.reshape(k, 2, k, 2).sum(axis=(1, 3))
        vol, inside = pairs.sum(1), np.diag(pairs).copy()
        two_m = vol.sum()
        terms = _ncut_terms(vol, inside)
        ncut, modularity = float(terms.sum()), modularity_from_sums(vol, inside)
        if moves >= max_moves:
            break

        # Splits: the Ncut and modularity changes of bisecting each cluster along its sides.
        half_vol, half_inside = halves.sum(1).reshape(k, 2), np.diag(halves).reshape(k, 2)
        between = halves.reshape(k, 2, k, 2)[np.arange(k), 0, np.arange(k), 1]
        split_ncut = _ncut_terms(half_vol.ravel(), half_inside.ravel()).reshape(k, 2).sum(1) - terms
        split_q = -(2.0 * between / two_m - 2.0 * half_vol[:, 0] * half_vol[:, 1] / two_m ** 2)
        splittable = (half_vol > 0).all(1)  # both halves carry volume
        # Merges of every pair a < b (or the best 4k of them by Ncut gain when k is large).
        union = vol[:, None] + vol[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            merged = np.where(union > 0, (union - inside[:, None] - inside[None, :] - 2.0 * pairs) / union, 0.0)
        merge_ncut = merged - terms[:, None] - terms[None, :]
        merge_q = 2.0 * pairs / two_m - 2.0 * np.outer(vol, vol) / two_m ** 2
        a, b = np.triu_indices(k, 1)
        if k > _ALL_PAIRS_MAX_CLUSTERS:
            keep = np.argsort(merge_ncut[a, b], kind="stable")[:4 * k]
            a, b = a[keep], b[keep]
        # Every (pair, split) triple: Ncut change and modularity change of doing both.
        d_ncut = merge_ncut[a, b][:, None] + split_ncut[None, :]
        d_q = merge_q[a, b][:, None] + split_q[None, :]
        c = np.arange(k)[None, :]
        valid = splittable[None, :] & (c != a[:, None]) & (c != b[:, None])
        valid &= (d_ncut < -1e-9 * max(ncut, 1.0)) & (d_q > 1e-12)
        if not valid.any():
            break
        best = np.argmin(np.where(valid, d_ncut, np.inf))
        pair, split = np.unravel_index(best, d_ncut.shape)
        merge_a, merge_b = int(a[pair]), int(b[pair])
        # b's id goes to the split-off half of c.
        labels[members[merge_b]] = merge_a
        labels[members[split][sides[members[split]] == 1]] = merge_b
        stale = {merge_a, merge_b, int(split)}
        moves += 1
    return MergeSplitRefinement(labels, moves, ncut, modularity)
