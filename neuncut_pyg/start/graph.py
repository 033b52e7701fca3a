r"""The method's start on graphs without features: spectral clustering of the graph itself
(:func:`graph_spectral_start`), and the label-free count of its communities
(:func:`choose_num_clusters`, ``NeuNcut(num_clusters="auto")``), each read off an eigen-solve
of the degree-regularized normalized adjacency (:func:`graph_spectral_embedding`), regularized
for what each needs: Bethe's term for the count, the mean degree for the clustering.

Random node-id features smoothed over a few hops are a random projection of a short random
walk, a weaker embedding than the graph's own eigenvectors; on heavily mixed graphs the relaxed
Ncut does not recover from a start computed on them (``docs/featureless.md``).
"""
from __future__ import annotations

import math
import warnings
from typing import NamedTuple, Optional, Tuple, Union

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from torch import Tensor

from neuncut_pyg._validation import check_int, check_num_clusters, is_int
from neuncut_pyg.adjacency import Adj, scipy_affinity
from neuncut_pyg.metrics import normalized_cut
from neuncut_pyg.start.core import centre_margins
from neuncut_pyg.start.embedding import finish_kmeans, kmeans_labels, sample_centres
from neuncut_pyg.start.refinement import merge_split_refinement
from neuncut_pyg.start.smoothed import DEFAULT_KMEANS_SAMPLE_SIZE

__all__ = [
    "bethe_radius",
    "GraphSpectralEmbedding",
    "graph_spectral_embedding",
    "NumClustersChoice",
    "choose_num_clusters",
    "GraphSpectralStart",
    "graph_spectral_start",
    "check_k_bounds",
    "DEFAULT_K_MIN",
    "DEFAULT_K_MAX",
]

#: Bounds of ``num_clusters="auto"`` when none are given.
DEFAULT_K_MIN = 2
DEFAULT_K_MAX = 100
# Eigenpairs are computed in blocks: first this many, grown by half while every one of them lies
# above the threshold (so the count may be larger), up to k_max + 1.
_FIRST_EIGEN_BLOCK = 32
# ARPACK's tolerance: k-means needs directions, not eigenvalues to machine precision.
_EIGEN_TOL = 1e-4
# Row scalings of the embedding graph_spectral_start tries (scaling="auto"), kept by modularity.
_SCALINGS = ("rows", "corrected")


def bethe_radius(degrees: NDArray[np.float64]) -> float:
    r""":math:`r = \sqrt{\sum_i d_i^2 / \sum_i d_i - 1}`, the radius of the Bethe Hessian
    :math:`\mathbf{H}_r = (r^2 - 1)\mathbf{I} - r\mathbf{W} + \mathbf{D}` of a degree-corrected
    graph (Saade, Krzakala and Zdeborova, 2014; Le and Levina, 2015): the square root of the
    spectral radius of the non-backtracking operator of a configuration-model graph with these
    degrees. Clamped to ``>= 1`` (a graph of isolated edges has :math:`\sum d^2/\sum d = 1`)."""
    total = float(degrees.sum())
    if not total > 0:
        raise ValueError("the graph has no edge weight: it has no spectrum to cluster")
    return math.sqrt(max(float((degrees * degrees).sum()) / total - 1.0, 1.0))


class GraphSpectralEmbedding(NamedTuple):
    """Result of :func:`graph_spectral_embedding`."""

    #: Eigenvalues, descending ``[m]``.
    values: NDArray[np.float64]
    #: Eigenvectors ``[N, m]`` in the order of ``values`` (rows not normalized).
    vectors: NDArray[np.float64]
    #: The diagonal regularization :math:`\tau`.
    tau: float
    #: The Bethe-Hessian threshold :math:`1/r` (``regularization="bethe"``; else ``nan``).
    threshold: float
    #: The degrees :math:`\mathbf{d}` of :math:`\mathbf{W}'` ``[N]``.
    degrees: NDArray[np.float64]


def _top_eigenpairs(op: scipy.sparse.csr_matrix, m: int, seed: int) -> Tuple[NDArray, NDArray]:
    n = op.shape[0]
    if m >= n - 1:  # ARPACK needs m < N - 1: a graph this small is solved densely
        values, vectors = np.linalg.eigh(op.toarray())
        return values[::-1][:m], vectors[:, ::-1][:, :m]
    v0 = np.random.default_rng(seed).uniform(-1.0, 1.0, size=n)  # a fixed start: deterministic
    values, vectors = scipy.sparse.linalg.eigsh(op, k=m, which="LA", v0=v0, tol=_EIGEN_TOL)
    order = np.argsort(-values)
    return values[order], vectors[:, order]


def graph_spectral_embedding(
    edge_index: Adj,
    num_nodes: int,
    num_vectors: int,
    *,
    edge_weight: Optional[Tensor] = None,
    regularization: Union[str, float] = "bethe",
    seed: int = 0,
    affinity: Optional[scipy.sparse.csr_matrix] = None,
) -> GraphSpectralEmbedding:
    r"""The top ``num_vectors`` eigenpairs of :math:`\mathbf{A}_\tau =
    \mathbf{D}_\tau^{-1/2}\mathbf{W}'\mathbf{D}_\tau^{-1/2}`, :math:`\mathbf{D}_\tau = \mathbf{D}
    + \tau\mathbf{I}` (sparse ARPACK: :math:`O(E\,m)` per Lanczos cycle, :math:`O(Nm)` memory, no
    :math:`N \times N` matrix).

    ``regularization="bethe"`` takes :math:`\tau = r^2 - 1` (:func:`bethe_radius`): then the
    number of eigenvalues above :math:`1/r` equals the number of negative eigenvalues of the
    Bethe Hessian (Sylvester's law of inertia on :math:`\mathbf{H}_r =
    \mathbf{D}_\tau^{1/2}(\mathbf{I} - r\mathbf{A}_\tau)\mathbf{D}_\tau^{1/2}`), so one solve
    gives the count of :func:`choose_num_clusters`. ``regularization="mean_degree"`` takes
    :math:`\tau = \bar{d}`, the mean degree (Qin and Rohe, 2013), the embedding
    :func:`graph_spectral_start` clusters: a lighter term than Bethe's :math:`r^2 - 1` on
    power-law degrees, measured better at both NMI and Ncut (``docs/featureless.md``). Either term
    keeps small, weakly attached pieces (Cora has 78 components) from taking the top
    eigenvectors. A number is used as :math:`\tau` itself (``0``: Ng-Jordan-Weiss's operator,
    top eigenvalue 1).
    ``affinity``: :math:`\mathbf{W}'` already built (:func:`~neuncut_pyg.adjacency.scipy_affinity`).
    """
    num_nodes = check_int(num_nodes, "num_nodes")
    num_vectors = check_int(num_vectors, "num_vectors")
    w = scipy_affinity(edge_index, edge_weight, num_nodes=num_nodes) if affinity is None else affinity
    deg = np.asarray(w.sum(axis=1)).ravel()
    threshold = float("nan")
    if regularization == "bethe":
        # In units of the mean edge weight: r is defined for edge counts, and A_tau is invariant
        # to W -> cW, tau -> c tau, so the threshold does not depend on the weights' scale.
        unit = float(w.data.mean()) if w.nnz else 1.0
        r = bethe_radius(deg / unit)
        tau, threshold = (r * r - 1.0) * unit, 1.0 / r
    elif regularization == "mean_degree":
        tau = float(deg.mean()) if num_nodes else 0.0
    else:
        tau = -1.0 if isinstance(regularization, str) else float(regularization)
        if not (math.isfinite(tau) and tau >= 0):
            raise ValueError("regularization must be 'bethe', 'mean_degree' or a number >= 0, "
                             f"got {regularization!r}")
    inv_sqrt = np.zeros_like(deg)
    np.divide(1.0, np.sqrt(deg + tau), out=inv_sqrt, where=deg + tau > 0)
    scale = scipy.sparse.diags(inv_sqrt)
    values, vectors = _top_eigenpairs((scale @ w @ scale).tocsr(), min(num_vectors, num_nodes), seed)
    return GraphSpectralEmbedding(values, vectors, tau, threshold, deg)


class NumClustersChoice(NamedTuple):
    """Result of :func:`choose_num_clusters`."""

    #: The chosen :math:`k`, within ``[k_min, k_max]``.
    k: int
    #: The count of eigenvalues above the threshold among the at most ``k_max + 1`` computed
    #: (1: no community detected; ``k_max + 1``: at least that many).
    count: int
    #: ``"count"`` (inside the bounds), ``"k_min"`` or ``"k_max"`` (clipped to that bound).
    reason: str
    #: The Bethe-regularized embedding computed on the way (at least ``k`` vectors).
    embedding: GraphSpectralEmbedding


def check_k_bounds(k_min: object, k_max: object, num_nodes: Optional[int] = None) -> Tuple[int, int]:
    """``(k_min, k_max)`` of ``num_clusters="auto"``, checked; ``k_max`` capped at ``num_nodes``."""
    if not is_int(k_min) or k_min < 2:
        raise ValueError(f"k_min must be an integer >= 2, got {k_min!r}")
    if not is_int(k_max) or k_max < k_min:
        raise ValueError(f"k_max must be an integer >= k_min={k_min}, got {k_max!r}")
    if num_nodes is None:
        return int(k_min), int(k_max)
    if k_min > num_nodes:
        raise ValueError(f"k_min={k_min} clusters cannot be formed from a graph of {num_nodes} nodes")
    return int(k_min), int(min(k_max, num_nodes))


def choose_num_clusters(
    edge_index: Adj,
    num_nodes: int,
    *,
    edge_weight: Optional[Tensor] = None,
    k_min: int = DEFAULT_K_MIN,
    k_max: int = DEFAULT_K_MAX,
    seed: int = 0,
    affinity: Optional[scipy.sparse.csr_matrix] = None,
) -> NumClustersChoice:
    r"""The number of communities of a graph, without labels: the Bethe-Hessian count (Saade et
    al., 2014; consistent for sparse degree-corrected block models, Le and Levina, 2015),
    clipped to ``[k_min, k_max]``.

    :math:`\hat{k} = \#\{j : \lambda_j(\mathbf{A}_\tau) > 1/r\}`, :math:`\tau = r^2 - 1`
    (:func:`graph_spectral_embedding`): the eigenvalues that stand out of the bulk a graph with
    these degrees and no communities would have (whose edge is :math:`1/r`). The trivial top
    eigenvalue counts one, so :math:`\hat{k} = 1` means that no community is detectable (then
    ``k_min`` is returned, with ``reason="k_min"``). It counts *detectable* communities: below
    the detectability threshold (heavy mixing, small communities) it undercounts; on graphs
    with geometric rather than community structure (grids, meshes) it counts many.

    Eigenpairs are computed in blocks (32, grown by half while all lie above the threshold), so
    the cost follows :math:`\hat{k}`, not ``k_max``.
    """
    num_nodes = check_int(num_nodes, "num_nodes")
    k_min, k_max = check_k_bounds(k_min, k_max, num_nodes)
    w = scipy_affinity(edge_index, edge_weight, num_nodes=num_nodes) if affinity is None else affinity
    m = min(max(_FIRST_EIGEN_BLOCK, k_min), k_max + 1, num_nodes)
    while True:
        embedding = graph_spectral_embedding(None, num_nodes, m, seed=seed, affinity=w)
        count = int((embedding.values > embedding.threshold).sum())
        if count < m or m >= min(k_max + 1, num_nodes):
            break
        m = min(m + m // 2, k_max + 1, num_nodes)
    k = min(max(count, k_min), k_max)
    reason = "count" if k == count else ("k_min" if count < k_min else "k_max")
    return NumClustersChoice(k, count, reason, embedding)


class GraphSpectralStart(NamedTuple):
    """Result of :func:`graph_spectral_start`."""

    #: Cluster labels ``[N]``, ``int64`` in ``0..k-1``.
    labels: NDArray[np.int64]
    #: Each node's :func:`~neuncut_pyg.start.centre_margins` on the clustered points ``[N]``.
    margins: NDArray[np.float64]
    #: Newman modularity of ``labels`` (what chose the row scaling).
    modularity: float
    #: Discrete :math:`k`-way Ncut of ``labels`` (empty clusters counted as 1).
    ncut: float
    #: The row scaling kept: ``"rows"`` or ``"corrected"``.
    scaling: str


def _embedded_points(embedding: GraphSpectralEmbedding, k: int, scaling: str) -> NDArray[np.float64]:
    """The rows k-means clusters: ``"rows"``, the first ``k`` eigenvectors with rows scaled to
    unit length (Ng, Jordan and Weiss); ``"corrected"``, rows multiplied by
    :math:`\\sqrt{d_i + \\tau}/d_i` (the random-walk eigenvectors, with the degree correction of
    the regularization undone), then all by one factor making the mean row norm 1."""
    u = embedding.vectors[:, :k]
    if scaling == "rows":
        norms = np.sqrt(np.einsum("ij,ij->i", u, u))
        norms[norms == 0] = 1.0
        return u / norms[:, None]
    deg = embedding.degrees
    factor = np.zeros_like(deg)
    np.divide(np.sqrt(deg + embedding.tau), deg, out=factor, where=deg > 0)
    points = u * factor[:, None]
    return points / max(float(np.sqrt(np.einsum("ij,ij->i", points, points)).mean()), 1e-300)


def graph_spectral_start(
    edge_index: Adj,
    num_nodes: int,
    k: int,
    *,
    edge_weight: Optional[Tensor] = None,
    embedding: Optional[GraphSpectralEmbedding] = None,
    n_init: int = 3,
    seed: int = 0,
    scaling: str = "auto",
    kmeans_sample_size: Optional[int] = DEFAULT_KMEANS_SAMPLE_SIZE,
) -> GraphSpectralStart:
    r"""Spectral clustering of the graph itself, the start NeuNcut trains from on a graph
    without features: the top-``k`` eigenvectors of :math:`\mathbf{A}_\tau`,
    :math:`\tau = \bar{d}` (:func:`graph_spectral_embedding`, or the first ``k`` columns of ``embedding``), rows
    scaled (``"rows"``, ``"corrected"``, or ``"auto"``: both, the higher modularity kept),
    :math:`k`-means with ``n_init`` restarts (on a sample of ``kmeans_sample_size`` rows above
    that size, then Lloyd iterations on all rows), then
    :func:`~neuncut_pyg.start.merge_split_refinement`, and the nodes' centre margins for the
    core schedule."""
    num_nodes = check_int(num_nodes, "num_nodes")
    k = check_num_clusters(k, num_nodes)
    if scaling != "auto" and scaling not in _SCALINGS:
        raise ValueError(f"scaling must be 'auto', 'rows' or 'corrected', got {scaling!r}")
    if embedding is None:
        embedding = graph_spectral_embedding(edge_index, num_nodes, k, edge_weight=edge_weight,
                                             regularization="mean_degree", seed=seed)
    if embedding.vectors.shape[1] < k:
        raise ValueError(f"the embedding has {embedding.vectors.shape[1]} vectors, k={k} are needed")
    best = None
    for name in (_SCALINGS if scaling == "auto" else (scaling,)):
        points = _embedded_points(embedding, k, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct rows than k
            if kmeans_sample_size is not None and num_nodes > kmeans_sample_size:
                centres = sample_centres(points, k, n_init=n_init, seed=seed, sample_size=kmeans_sample_size)
                labels = finish_kmeans(points, centres, seed=seed)
            else:
                labels = kmeans_labels(points, k, seed=seed, n_init=n_init)
        refined = merge_split_refinement(labels, edge_index, points,
                                         edge_weight=edge_weight, num_clusters=k, seed=seed)
        if best is None or refined.modularity > best[0].modularity:
            best = (refined, points, name)
    refined, points, name = best
    return GraphSpectralStart(refined.labels, centre_margins(points, refined.labels), refined.modularity,
                              normalized_cut(refined.labels, edge_index, edge_weight, num_clusters=k), name)
