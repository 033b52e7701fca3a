r"""The method's start on attributed graphs: spectral clustering of graph-smoothed features
(:func:`smoothed_feature_clustering`), and :func:`spectral_start`, the settings with which
``NeuNcut.fit(init="spectral")`` runs it."""
from __future__ import annotations

import warnings
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from torch import Tensor

from neuncut_pyg._validation import check_int, check_num_clusters
from neuncut_pyg.adjacency import Adj, to_sparse_adjacency
from neuncut_pyg.metrics import modularity
from neuncut_pyg.propagation import propagate_features
from neuncut_pyg.start.core import centre_margins
from neuncut_pyg.start.embedding import (
    feature_spectral_embedding,
    finish_kmeans,
    kmeans_labels,
    nearest_centre,
    sample_centres,
)
from neuncut_pyg.start.refinement import merge_split_refinement

__all__ = [
    "SmoothedFeatureClustering",
    "smoothed_feature_clustering",
    "spectral_start",
    "DEFAULT_SMOOTHING_STEPS",
    "DEFAULT_KMEANS_SAMPLE_SIZE",
]

#: Propagation depths :func:`smoothed_feature_clustering` chooses from, by graph modularity.
DEFAULT_SMOOTHING_STEPS = (2, 4, 8, 16)
#: Above this many nodes, :func:`smoothed_feature_clustering` runs its k-means restarts on a
#: random sample of rows.
DEFAULT_KMEANS_SAMPLE_SIZE = 20_000
# What NeuNcut.fit's start uses (docs/defaults.md): k-means restarts per depth, and the graph
# size above which it tries the grid of depths only, without the refinement between them.
START_KMEANS_RESTARTS = 3
START_REFINE_MAX_NODES = 50_000


class SmoothedFeatureClustering(NamedTuple):
    """Result of :func:`smoothed_feature_clustering`."""

    #: Cluster labels ``[N]``, ``int64`` in ``0..k-1``.
    labels: NDArray[np.int64]
    #: The propagation depth :math:`K` whose partition had the highest modularity.
    steps: int
    #: That partition's modularity on the graph.
    modularity: float
    #: Each node's :func:`centre_margins` on the chosen depth's spectral embedding (how far
    #: inside its cluster it lies), ``[N]`` float64; ``None`` where not computed.
    margins: Optional[NDArray[np.float64]] = None


def smoothed_feature_clustering(
    x: Tensor,
    edge_index: Adj,
    k: int,
    *,
    edge_weight: Optional[Tensor] = None,
    steps: Sequence[int] = DEFAULT_SMOOTHING_STEPS,
    refine: bool = True,
    seed: int = 0,
    n_init: int = 10,
    kmeans_sample_size: Optional[int] = DEFAULT_KMEANS_SAMPLE_SIZE,
    merge_split: bool = True,
    return_features: bool = False,
) -> Union[SmoothedFeatureClustering, Tuple[SmoothedFeatureClustering, Tensor]]:
    r"""Spectral clustering of graph-smoothed features, with the smoothing depth chosen by the
    graph's modularity: a label-free clustering of attributed graphs in the spirit of AGC
    (Zhang et al., 2019) and SSGC (Zhu and Koniusz, 2021), and the partition NeuNcut's
    ``init="spectral"`` starts from.

    For a depth :math:`K`: :math:`\hat{\mathbf{A}}^K\mathbf{X}`
    (:func:`~neuncut_pyg.propagation.propagate_features`), its
    :func:`~neuncut_pyg.start.embedding.feature_spectral_embedding` and :math:`k`-means on it;
    the partition is scored by its Newman modularity on the graph. Every depth in ``steps`` is
    tried; with ``refine``, the search then narrows between the best depth and its neighbours
    (the midpoints of both gaps, repeatedly, until no integer depth is left between), which finds
    the peak of a modularity curve that rises then falls with :math:`K`. Modularity, not the
    Ncut, chooses: the graph's Ncut keeps falling as smoothing grows while the partition gets
    worse (``docs/defaults.md``).

    Cost per depth: :math:`O(KEF)` for the smoothing, the embedding and :math:`k`-means on
    :math:`N \times k`; memory :math:`O(E + NF)`. On graphs larger than ``kmeans_sample_size``
    the restarts of each depth run on a random sample of embedded rows and every node goes to
    its nearest centre, which is enough to score the depth; the chosen depth then gets up to 20
    Lloyd iterations over all rows. With ``merge_split``, the chosen partition is improved by
    :func:`~neuncut_pyg.start.merge_split_refinement`, which undoes the typical mistake of
    :math:`k`-means with communities of very different sizes (the largest halved, two small ones
    merged).

    Args:
        x (torch.Tensor): Node features ``[N, F]`` (dense or sparse).
        edge_index (torch.Tensor or SparseTensor): The graph in any PyG ``Adj`` form.
        k (int): Number of clusters, ``2 <= k <= N``.
        edge_weight (torch.Tensor, optional): Non-negative edge weights ``[E]``.
        steps (Sequence[int]): Candidate depths :math:`K \geq 0`. (default: ``(2, 4, 8, 16)``)
        refine (bool): Search between the best candidate and its neighbours. (default: ``True``)
        seed (int): Seeds ARPACK and :math:`k`-means. (default: ``0``)
        n_init (int): :math:`k`-means restarts per depth. (default: ``10``)
        kmeans_sample_size (int, optional): Rows the :math:`k`-means restarts see on larger
            graphs; ``None`` runs them on every row. (default: ``20000``)
        merge_split (bool): Refine the chosen partition by merge-split moves.
            (default: ``True``)
        return_features (bool): Also return the smoothed features of the chosen depth,
            :math:`\hat{\mathbf{A}}^K\mathbf{X}` ``[N, F]``, which ``NeuNcut(encoder="mlp")``
            reads as its input. (default: ``False``)

    Returns:
        :class:`SmoothedFeatureClustering` ``(labels, steps, modularity, margins)``, the margins
        on the chosen depth's embedding; with ``return_features``, the tuple
        ``(result, smoothed_features)``.

    Raises:
        ValueError: on ``k < 2``, ``k > N``, empty or negative ``steps``, non-finite features or
            a malformed graph.
    """
    if not isinstance(x, Tensor) or x.dim() != 2:
        raise ValueError(f"x must be a 2-D feature tensor [N, F], got {getattr(x, 'shape', type(x).__name__)}")
    num_nodes = x.size(0)
    check_num_clusters(k, num_nodes)
    check_int(n_init, "n_init")
    if kmeans_sample_size is not None and (not isinstance(kmeans_sample_size, (int, np.integer))
                                           or isinstance(kmeans_sample_size, bool) or kmeans_sample_size < k):
        raise ValueError(f"kmeans_sample_size must be an integer >= k={k} or None, got {kmeans_sample_size!r}")
    if isinstance(steps, (str, bytes)) or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0 for d in steps) or not len(steps):
        raise ValueError(f"steps must be a non-empty sequence of integers >= 0, got {steps!r}")
    features = x.to_dense() if x.layout != torch.strided else x
    features = features if features.is_floating_point() else features.to(torch.get_default_dtype())
    adj = to_sparse_adjacency(edge_index, edge_weight, num_nodes=num_nodes)  # built once for all depths
    sampled = kmeans_sample_size is not None and num_nodes > kmeans_sample_size
    tried: dict = {}
    centres_at: dict = {}  # sampled k-means: each depth's centres, to finish the chosen one
    embedding_at: dict = {}  # otherwise each depth's embedding, for the merge-split moves
    smoothed_at = {0: features}  # smoothed features kept at tried depths, to continue from

    def score(depth: int) -> SmoothedFeatureClustering:
        if depth not in tried:
            start = max(d for d in smoothed_at if d <= depth)
            smoothed = propagate_features(smoothed_at[start], adj, steps=depth - start, num_nodes=num_nodes)
            smoothed_at[depth] = smoothed
            embedding = feature_spectral_embedding(smoothed, k, seed=seed)
            if sampled:
                # Scoring a depth needs a partition, not a converged one: the restarts on the
                # sample and one assignment of every row; only the chosen depth gets the Lloyd
                # iterations over all rows (below).
                centres_at[depth] = sample_centres(embedding, k, n_init=n_init, seed=seed,
                                                    sample_size=kmeans_sample_size)
                labels = nearest_centre(embedding, centres_at[depth])
            else:
                labels = kmeans_labels(embedding, k, seed=seed, n_init=n_init)
                embedding_at[depth] = embedding  # N x k, small here (N <= kmeans_sample_size)
            tried[depth] = SmoothedFeatureClustering(labels, depth, float(modularity(labels, adj)))
        return tried[depth]

    grid = sorted({int(d) for d in steps})
    best = score(grid[0])
    for depth in grid[1:]:
        candidate = score(depth)
        if candidate.modularity > best.modularity:
            best = candidate
        # Smoothed features are N x F each (1 GB at ogbn-products size): keep the latest (to
        # continue from), the best and, for the refinement, the depth before the best.
        keep = {0, depth, best.steps}
        if refine:
            keep.add(grid[max(grid.index(best.steps) - 1, 0)])
        for d in [d for d in smoothed_at if d not in keep]:
            del smoothed_at[d]
    if refine and len(grid) > 1:
        i = grid.index(best.steps)
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        while True:
            inner = {(lo + best.steps) // 2, (best.steps + hi + 1) // 2} - {lo, hi, best.steps}
            if not inner:
                break
            for depth in sorted(inner):
                candidate = score(depth)
                if candidate.modularity > best.modularity:
                    best = candidate
            # Narrow to the best depth's nearest tried neighbours; later depths lie above lo.
            lo = max([d for d in tried if d < best.steps and d >= lo], default=best.steps)
            hi = min([d for d in tried if d > best.steps and d <= hi], default=best.steps)
            for depth in [d for d in smoothed_at if d < lo or d > hi]:
                del smoothed_at[depth]
            smoothed_at.setdefault(0, features)
    chosen = smoothed_at[best.steps]
    if sampled:
        # The embedding is recomputed (same seed, same result) rather than kept per depth: at
        # ogbn-products size each one is ~1 GB.
        embedding = feature_spectral_embedding(chosen, k, seed=seed)
        labels = finish_kmeans(embedding, centres_at[best.steps], seed=seed)
    else:
        embedding, labels = embedding_at[best.steps], best.labels
    embedding_at.clear()
    if merge_split:
        refined = merge_split_refinement(labels, adj, embedding, num_clusters=k, seed=seed)
        best = SmoothedFeatureClustering(refined.labels, best.steps, refined.modularity)
    elif sampled:
        best = SmoothedFeatureClustering(labels, best.steps, float(modularity(labels, adj)))
    best = best._replace(margins=centre_margins(embedding, best.labels))
    del embedding
    return (best, chosen) if return_features else best



def spectral_start(x: Tensor, adj: Adj, num_clusters: int, *, seed: int,
                   return_features: bool = False) -> Union[SmoothedFeatureClustering, Tuple[SmoothedFeatureClustering, Tensor]]:
    """:func:`smoothed_feature_clustering` with the settings of ``NeuNcut.fit(init="spectral")``:
    ``START_KMEANS_RESTARTS`` restarts per depth, and the refinement between grid depths only on
    graphs of at most ``START_REFINE_MAX_NODES`` nodes."""
    with warnings.catch_warnings():
        # Smoothing can leave fewer than k distinct feature directions (a regular graph,
        # constant features): k-means then warns of fewer clusters. The start may have fewer
        # clusters; the Ncut training splits them.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return smoothed_feature_clustering(x, adj, num_clusters, n_init=START_KMEANS_RESTARTS, seed=seed,
                                           refine=x.size(0) <= START_REFINE_MAX_NODES,
                                           return_features=return_features)
