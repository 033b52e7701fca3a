r"""Classic clustering baselines that NeuNcut is compared with: spectral clustering on the graph,
:math:`k`-means on the node features, and spectral clustering of graph-smoothed features (which
also seeds NeuNcut's ``init="spectral"``).

All return hard labels as an ``int64`` numpy array ``[N]``, ready for
:func:`neuncut_pyg.metrics.evaluate_clustering`.
"""
from __future__ import annotations

from typing import Iterator, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
import torch
from numpy.typing import NDArray
from sklearn.cluster import KMeans
from torch import Tensor

from neuncut_pyg.adjacency import Adj, as_coo
from neuncut_pyg.refinement import merge_split_refinement

__all__ = [
    "normalized_adjacency",
    "spectral_clustering",
    "kmeans_features",
    "feature_spectral_embedding",
    "smoothed_feature_clustering",
    "SmoothedFeatureClustering",
    "centre_margins",
    "partition_core",
    "DEFAULT_SMOOTHING_STEPS",
    "DEFAULT_KMEANS_SAMPLE_SIZE",
]

#: Above this many nodes, :func:`smoothed_feature_clustering` runs its k-means restarts on a
#: random sample of rows (see there).
DEFAULT_KMEANS_SAMPLE_SIZE = 20_000
_FULL_LLOYD_ITERATIONS = 20
# Rows per block where an N x F pass is done in pieces to bound its temporaries.
_ROW_CHUNK = 65536

#: Propagation depths :func:`smoothed_feature_clustering` chooses from, by graph modularity.
DEFAULT_SMOOTHING_STEPS = (2, 4, 8, 16)

# Above this many feature columns the kernel's eigenvectors come from ARPACK (O(NF) per
# product); below, from the exact (F+1) x (F+1) Gram matrix (O(NF^2), faster for narrow features).
_GRAM_MAX_FEATURES = 512


def _validate_num_clusters(k: int, num_nodes: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer number of clusters, got {k!r}")
    if k < 2:
        raise ValueError(f"k must be at least 2 clusters, got k={k}")
    if k > num_nodes:
        raise ValueError(f"k={k} clusters cannot be formed from N={num_nodes} nodes: need k <= N")


def _validate_n_init(n_init: int) -> None:
    if isinstance(n_init, bool) or not isinstance(n_init, (int, np.integer)) or n_init < 1:
        raise ValueError(f"n_init must be a positive integer, got {n_init!r}")


def normalized_adjacency(
    edge_index: Adj,
    num_nodes: int,
    edge_weight: Optional[Tensor] = None,
    *,
    regularization: float = 0.0,
) -> Union[scipy.sparse.csr_matrix, scipy.sparse.linalg.LinearOperator]:
    r"""The symmetric normalized affinity :math:`\mathbf{D}^{-1/2}\mathbf{W}'\mathbf{D}^{-1/2}`
    as a ``scipy.sparse`` CSR matrix ``[N, N]`` (float64).

    :math:`\mathbf{W}' = (\mathbf{W} + \mathbf{W}^{\top})/2` is the symmetrized affinity, as in
    the loss, and :math:`\mathbf{d} = \mathbf{W}'\mathbf{1}`. Isolated nodes
    (:math:`d_i = 0`) get :math:`d_i^{-1/2} = 0`: their rows and columns are zero.

    With ``regularization`` :math:`\tau > 0`, the affinity is :math:`\mathbf{W}' +
    \frac{\tau}{N}\mathbf{1}\mathbf{1}^{\top}` (degrees :math:`\mathbf{d} + \tau`), returned as a
    ``LinearOperator`` that applies the dense rank-one term implicitly: :math:`O(E + N)` per product.
    """
    row, col, weight = as_coo(edge_index, edge_weight, num_nodes=num_nodes, dtype=torch.float64)
    row_np, col_np, weight_np = row.cpu().numpy(), col.cpu().numpy(), weight.cpu().numpy()
    w = scipy.sparse.coo_matrix((weight_np, (row_np, col_np)), shape=(num_nodes, num_nodes)).tocsr()
    w = ((w + w.T) * 0.5).tocsr()  # duplicates summed, as the loss's sparse product does
    deg = np.asarray(w.sum(axis=1)).ravel() + regularization
    inv_sqrt = np.zeros_like(deg)
    np.divide(1.0, np.sqrt(deg), out=inv_sqrt, where=deg > 0)
    scale = scipy.sparse.diags(inv_sqrt)
    normalized = (scale @ w @ scale).tocsr()
    if regularization == 0:
        return normalized

    def matmat(x: NDArray[np.float64]) -> NDArray[np.float64]:
        x2 = x.reshape(num_nodes, -1)
        ones_term = (regularization / num_nodes) * (inv_sqrt @ x2)  # (tau/N) 1^T D^-1/2 x, [cols]
        return (normalized @ x2 + inv_sqrt[:, None] * ones_term[None, :]).reshape(x.shape)

    return scipy.sparse.linalg.LinearOperator(
        (num_nodes, num_nodes), matvec=matmat, matmat=matmat, rmatvec=matmat, dtype=np.float64
    )


def _regularization(
    regularization: Union[float, str], edge_index: Adj, num_nodes: int, edge_weight: Optional[Tensor]
) -> float:
    if isinstance(regularization, str):
        if regularization != "auto":
            raise ValueError(f"regularization must be a number >= 0 or 'auto', got {regularization!r}")
        _, _, weight = as_coo(edge_index, edge_weight, num_nodes=num_nodes, dtype=torch.float64)
        return float(weight.sum()) / num_nodes  # the mean degree (Qin and Rohe, 2013)
    if not np.isfinite(regularization) or regularization < 0:
        raise ValueError(f"regularization must be a finite number >= 0 or 'auto', got {regularization!r}")
    return float(regularization)


def spectral_clustering(
    edge_index: Adj,
    num_nodes: int,
    k: int,
    *,
    edge_weight: Optional[Tensor] = None,
    seed: int = 0,
    n_init: int = 10,
    regularization: Union[float, str] = "auto",
) -> NDArray[np.int64]:
    r"""Normalized spectral clustering of Ng, Jordan and Weiss (2001) on a sparse graph.

    1. :math:`\mathbf{A} = \mathbf{D}^{-1/2}\mathbf{W}\mathbf{D}^{-1/2}` (see
       :func:`normalized_adjacency`; isolated nodes have zero rows).
    2. :math:`\mathbf{U} \in \mathbb{R}^{N \times k}`: eigenvectors of the :math:`k` largest
       eigenvalues of :math:`\mathbf{A}` — equivalently of the :math:`k` smallest of the
       normalized Laplacian :math:`\mathbf{I} - \mathbf{A}`, the spectral relaxation of the
       :math:`k`-way normalized cut — by ARPACK's Lanczos method
       (``scipy.sparse.linalg.eigsh``, ``which='LA'``).
    3. Each row of :math:`\mathbf{U}` is scaled to unit length (zero rows stay zero).
    4. The rows are clustered by :math:`k`-means.

    Only sparse products with :math:`\mathbf{A}` are used: memory is :math:`O(E + Nk)`, and
    graphs of ~170k nodes and millions of edges (ogbn-arxiv) take seconds to minutes.

    A graph with more than :math:`k` connected components has eigenvalue 1 with multiplicity
    above :math:`k`; the eigenvectors then indicate components and the partition mostly
    separates small components — the known weakness of this baseline on sparse real graphs
    (Cora has 78 components: NMI 0.17-0.22 unregularized). The default therefore uses the
    *regularized* spectral clustering of Qin and Rohe (2013): :math:`\mathbf{W}_\tau =
    \mathbf{W} + \frac{\tau}{N}\mathbf{1}\mathbf{1}^{\top}` with :math:`\tau` the mean degree,
    their recommended label-free choice. The rank-one term is applied implicitly inside the
    Lanczos products, so nothing dense is formed (Cora: NMI 0.34 regularized).

    Args:
        edge_index (torch.Tensor or SparseTensor): The graph in any PyG ``Adj`` form.
        num_nodes (int): Number of nodes :math:`N`.
        k (int): Number of clusters, ``2 <= k <= N``.
        edge_weight (torch.Tensor, optional): Non-negative edge weights ``[E]``.
        seed (int): Seeds the Lanczos start vector and :math:`k`-means; equal seeds give equal
            labels. (default: ``0``)
        n_init (int): Number of :math:`k`-means restarts. (default: ``10``)
        regularization (float or str): :math:`\tau` of the regularized affinity
            :math:`\mathbf{W} + \frac{\tau}{N}\mathbf{1}\mathbf{1}^{\top}`; ``"auto"`` takes the
            mean degree, ``0`` gives the plain Ng-Jordan-Weiss algorithm. (default: ``"auto"``)

    Returns:
        numpy.ndarray: Cluster labels ``[N]``, ``int64`` in ``0..k-1``.

    Raises:
        ValueError: on ``k < 2``, ``k > N``, a negative ``regularization`` or a malformed graph.
    """
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, (int, np.integer)) or num_nodes < 1:
        raise ValueError(f"num_nodes must be a positive integer, got {num_nodes!r}")
    _validate_num_clusters(k, num_nodes)
    _validate_n_init(n_init)
    tau = _regularization(regularization, edge_index, num_nodes, edge_weight)
    adjacency = normalized_adjacency(edge_index, num_nodes, edge_weight, regularization=tau)

    if k >= num_nodes - 1:
        # ARPACK needs k < N - 1; a graph this small is solved densely.
        dense = adjacency @ np.eye(num_nodes)
        _, vectors = scipy.linalg.eigh(0.5 * (dense + dense.T))
        embedding = vectors[:, -k:]
    else:
        rng = np.random.default_rng(seed)
        start = rng.uniform(-1.0, 1.0, size=num_nodes)  # a fixed start vector makes ARPACK deterministic
        _, embedding = scipy.sparse.linalg.eigsh(adjacency, k=k, which="LA", v0=start)

    norms = np.linalg.norm(embedding, axis=1, keepdims=True)
    embedding = np.divide(embedding, norms, out=np.zeros_like(embedding), where=norms > 0)
    kmeans = KMeans(n_clusters=k, n_init=n_init, random_state=seed)
    return kmeans.fit_predict(embedding).astype(np.int64)


def kmeans_features(
    x: Union[Tensor, NDArray[np.floating]], k: int, *, seed: int = 0, n_init: int = 10
) -> NDArray[np.int64]:
    r""":math:`k`-means (scikit-learn, k-means++ initialization) on node features.

    Args:
        x (torch.Tensor or numpy.ndarray): Node features ``[N, F]``.
        k (int): Number of clusters, ``2 <= k <= N``.
        seed (int): Random state of :math:`k`-means. (default: ``0``)
        n_init (int): Number of restarts. (default: ``10``)

    Returns:
        numpy.ndarray: Cluster labels ``[N]``, ``int64`` in ``0..k-1``.

    Raises:
        ValueError: if ``x`` is not 2-D, empty or not finite, or on ``k < 2`` / ``k > N``.
    """
    features = np.asarray(_feature_rows(x), dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"x must be a 2-D feature matrix [N, F], got shape {list(features.shape)}")
    if features.shape[0] == 0 or features.shape[1] == 0:
        raise ValueError(f"x is empty: got shape {list(features.shape)}")
    if not np.isfinite(features).all():
        raise ValueError("x contains NaN or infinite values")
    _validate_num_clusters(k, features.shape[0])
    _validate_n_init(n_init)
    kmeans = KMeans(n_clusters=k, n_init=n_init, random_state=seed)
    return kmeans.fit_predict(features).astype(np.int64)


def _feature_rows(x: Union[Tensor, NDArray[np.floating]]) -> NDArray[np.floating]:
    """``x`` as a float32 or float64 numpy array, without a copy where it already is one."""
    if isinstance(x, Tensor):
        x = x.detach().cpu()
        x = x.to_dense() if x.layout != torch.strided else x
        return x.numpy() if x.dtype in (torch.float32, torch.float64) else x.to(torch.float64).numpy()
    if isinstance(x, np.ndarray):
        return x if x.dtype in (np.float32, np.float64) else np.asarray(x, dtype=np.float64)
    raise TypeError(f"x must be a torch.Tensor or a numpy.ndarray, got {type(x).__name__}")


def feature_spectral_embedding(
    x: Union[Tensor, NDArray[np.floating]], k: int, *, seed: int = 0
) -> NDArray[np.float64]:
    r"""Ng-Jordan-Weiss spectral embedding of the cosine-similarity graph of the feature rows,
    with no :math:`N \times N` matrix.

    Rows :math:`\mathbf{x}_i` are scaled to unit length and the affinity is
    :math:`\mathbf{K} = \mathbf{X}\mathbf{X}^{\top} + c\,\mathbf{1}\mathbf{1}^{\top}`, with
    :math:`c = 0` for non-negative features (bag-of-words: :math:`\mathbf{K}` is already an
    affinity) and :math:`c = 1` for signed ones (which makes every entry
    :math:`1 + \cos(\mathbf{x}_i, \mathbf{x}_j) \geq 0`). It is the Gram matrix of
    :math:`\mathbf{X}_a = [\mathbf{X}, \sqrt{c}\,\mathbf{1}]`, so its degrees are
    :math:`\mathbf{d} = \mathbf{X}_a(\mathbf{X}_a^{\top}\mathbf{1})` and the top-:math:`k`
    eigenvectors of :math:`\mathbf{D}^{-1/2}\mathbf{K}\mathbf{D}^{-1/2}` are the top left
    singular vectors of :math:`\mathbf{M} = \mathbf{D}^{-1/2}\mathbf{X}_a` (:math:`N \times F`):
    from ARPACK on :math:`\mathbf{M}\mathbf{M}^{\top}` (:math:`O(NF)` per product) for wide
    features, from the exact :math:`F \times F` Gram matrix :math:`\mathbf{M}^{\top}\mathbf{M}`
    (:math:`O(NF^2)`) for narrow ones. The rows of the embedding are scaled to unit length.

    Args:
        x (torch.Tensor or numpy.ndarray): Node features ``[N, F]`` (dense or sparse).
        k (int): Number of eigenvectors, ``2 <= k <= N``; at most the rank of
            :math:`\mathbf{X}_a` are returned.
        seed (int): Seeds ARPACK's start vector. (default: ``0``)

    Returns:
        numpy.ndarray: ``[N, min(k, rank)]`` float64, rows of unit length (zero rows stay zero).
    """
    features = _feature_rows(x)
    if features.ndim != 2 or features.shape[0] == 0 or features.shape[1] == 0:
        raise ValueError(f"x must be a non-empty 2-D feature matrix [N, F], got shape {list(features.shape)}")
    if not np.isfinite(features).all():
        raise ValueError("x contains NaN or infinite values")
    num_nodes = features.shape[0]
    _validate_num_clusters(k, num_nodes)
    # One N x (F + 1) float64 working array, filled from x in row chunks and scaled in place: at
    # ogbn-products size every extra float64 copy of the features is 2 GB (einsum, unlike
    # np.linalg.norm, forms no N x F temporary).
    num_features = features.shape[1]
    signed = bool((features < 0).any())
    m = np.empty((num_nodes, num_features + int(signed)))
    for start in range(0, num_nodes, _ROW_CHUNK):
        block = m[start:start + _ROW_CHUNK, :num_features]
        block[...] = features[start:start + _ROW_CHUNK]
        # Zero rows stay zero: their norm is replaced by 1 rather than masked, because numpy's
        # masked division (where=) is several times slower than a plain one.
        norms = np.sqrt(np.einsum("ij,ij->i", block, block))
        norms[norms == 0] = 1.0
        block /= norms[:, None]
    del features
    if signed:
        m[:, num_features] = 1.0
    deg = m @ m.sum(0)
    inv_sqrt = np.zeros_like(deg)
    positive = deg > 1e-12
    inv_sqrt[positive] = 1.0 / np.sqrt(deg[positive])
    m *= inv_sqrt[:, None]
    width = m.shape[1]
    rank_bound = min(num_nodes, width)
    if width <= _GRAM_MAX_FEATURES or k >= rank_bound - 1:
        values, vectors = scipy.linalg.eigh(m.T @ m)
        values, vectors = values[::-1][:k], vectors[:, ::-1][:, :k]
    else:
        op = scipy.sparse.linalg.LinearOperator(
            (num_nodes, num_nodes), dtype=np.float64, matvec=lambda v: m @ (m.T @ np.ravel(v)))
        start = np.random.default_rng(seed).uniform(-1.0, 1.0, size=num_nodes)
        values, embedding = scipy.sparse.linalg.eigsh(op, k=k, which="LA", v0=start)
        vectors = None
    if vectors is not None:
        # Left singular vectors from the right ones; directions of (numerically) zero singular
        # value carry no information and are dropped.
        keep = values > max(float(values[0]), 0.0) * 1e-10
        embedding = (m @ vectors[:, keep]) / np.sqrt(values[keep])
    rows = np.sqrt(np.einsum("ij,ij->i", embedding, embedding))
    rows[rows == 0] = 1.0
    embedding /= rows[:, None]
    return embedding


def _centre_distance_blocks(points: NDArray[np.floating],
                            centres: NDArray[np.float64]) -> Iterator[Tuple[int, NDArray[np.float64]]]:
    """``(start, block)`` over row chunks of ``points``: the ``[rows, k]`` squared Euclidean
    distances to ``centres`` less each row's own ``||x||^2``, which every comparison between
    centres cancels; chunked so that the block stays small."""
    centre_norms = np.einsum("ij,ij->i", centres, centres)
    for start in range(0, points.shape[0], _ROW_CHUNK):
        yield start, centre_norms[None, :] - 2.0 * points[start:start + _ROW_CHUNK] @ centres.T


def _nearest_centre(points: NDArray[np.float64], centres: NDArray[np.float64]) -> NDArray[np.int64]:
    """Index of each row's nearest centre (squared Euclidean distance)."""
    labels = np.empty(points.shape[0], dtype=np.int64)
    for start, dist in _centre_distance_blocks(points, centres):
        labels[start:start + dist.shape[0]] = np.argmin(dist, axis=1)
    return labels


def _sample_centres(points: NDArray[np.float64], k: int, *, n_init: int, seed: int,
                    sample_size: int) -> NDArray[np.float64]:
    """The centres of the best of ``n_init`` k-means restarts on ``sample_size`` random rows."""
    sample = np.random.default_rng(seed).choice(points.shape[0], size=sample_size, replace=False)
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(points[sample]).cluster_centers_


def _finish_kmeans(points: NDArray[np.float64], centres: NDArray[np.float64], *, seed: int) -> NDArray[np.int64]:
    """At most ``_FULL_LLOYD_ITERATIONS`` Lloyd iterations over all rows from ``centres``."""
    full = KMeans(n_clusters=centres.shape[0], init=centres, n_init=1, max_iter=_FULL_LLOYD_ITERATIONS,
                  random_state=seed)
    return full.fit_predict(points).astype(np.int64)


def centre_margins(points: NDArray[np.floating], labels: NDArray[np.integer]) -> NDArray[np.float64]:
    r"""How deep inside its cluster each point lies: the squared Euclidean distance to the
    nearest *other* cluster's centre minus the distance to its own, centres being the cluster
    means.

    A :math:`k`-means partition puts every point nearer its own centre, so margins are then
    :math:`\geq 0`; points near a boundary between clusters have margins near 0 and are the
    ones a partition of the embedding is least sure of. Computed in row blocks: memory
    :math:`O(N + k^2)` beyond the input, time :math:`O(Nkd)`.

    Args:
        points (numpy.ndarray): Embedded points ``[N, d]``.
        labels (numpy.ndarray): Cluster of each point ``[N]``, integers ``>= 0``.

    Returns:
        numpy.ndarray: ``[N]`` float64 margins; ``inf`` for every point when there is only one
        non-empty cluster.

    Raises:
        ValueError: if the shapes disagree, labels are negative or values are not finite.
    """
    points = np.asarray(points)
    labels = np.asarray(labels)
    if points.ndim != 2 or labels.ndim != 1 or labels.shape[0] != points.shape[0] or points.shape[0] == 0:
        raise ValueError(f"points must be [N, d] and labels [N], got shapes {list(points.shape)} and "
                         f"{list(labels.shape)}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError("labels must be non-negative integers")
    if not np.isfinite(points).all():
        raise ValueError("points contain NaN or infinite values")
    present, dense = np.unique(labels, return_inverse=True)
    if present.size < 2:
        return np.full(points.shape[0], np.inf)
    counts = np.bincount(dense, minlength=present.size).astype(np.float64)
    centres = np.zeros((present.size, points.shape[1]))
    np.add.at(centres, dense, points)
    centres /= counts[:, None]
    margins = np.empty(points.shape[0])
    for start, dist in _centre_distance_blocks(points, centres):
        rows, stop = np.arange(dist.shape[0]), start + dist.shape[0]
        own = dist[rows, dense[start:stop]].copy()
        dist[rows, dense[start:stop]] = np.inf
        margins[start:stop] = dist.min(axis=1) - own
    return margins


def partition_core(labels: NDArray[np.integer], margins: NDArray[np.floating], fraction: float) -> NDArray[np.bool_]:
    r"""The core of each cluster: its ``ceil(fraction * size)`` nodes of largest margin
    (:func:`centre_margins`), as a boolean mask ``[N]``.

    ``NeuNcut.fit(init="spectral")`` fits its later runs to the cores of the start partition
    only and lets the relaxed Ncut place the nodes near the boundaries (see there).

    Args:
        labels (numpy.ndarray): Cluster of each node ``[N]``, integers ``>= 0``.
        margins (numpy.ndarray): Margin of each node ``[N]``; larger is deeper inside.
        fraction (float): Share of every cluster kept, ``0 < fraction <= 1``; every non-empty
            cluster keeps at least one node.

    Returns:
        numpy.ndarray: ``[N]`` bool, ``True`` for core nodes.

    Raises:
        ValueError: if the shapes disagree, labels are negative or ``fraction`` is out of range.
    """
    labels = np.asarray(labels)
    margins = np.asarray(margins)
    if labels.ndim != 1 or margins.shape != labels.shape:
        raise ValueError(f"labels and margins must both be [N], got shapes {list(labels.shape)} and "
                         f"{list(margins.shape)}")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)) \
            or not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    if labels.size and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0):
        raise ValueError("labels must be non-negative integers")
    if np.isnan(margins).any():
        raise ValueError("margins contain NaN")
    if fraction == 1.0:
        return np.ones(labels.shape[0], dtype=bool)
    # Sort by cluster, then by decreasing margin; the first ceil(fraction * size) of each run.
    order = np.lexsort((-margins, labels))
    sorted_labels = labels[order]
    counts = np.bincount(labels)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(labels.shape[0]) - first[sorted_labels]
    keep = np.zeros(labels.shape[0], dtype=bool)
    keep[order] = rank < np.ceil(fraction * counts[sorted_labels])
    return keep


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
    (:func:`~neuncut_pyg.propagation.propagate_features`), its :func:`feature_spectral_embedding`
    and :math:`k`-means on it; the partition is scored by its Newman modularity on the graph.
    Every depth in ``steps`` is tried; with ``refine``, the search then narrows between the best
    depth and its neighbours in ``steps`` (the midpoints of both gaps, repeatedly, until no
    integer depth is left between), which finds the best depth of a modularity curve that rises
    then falls with :math:`K`, as it did on Cora (peak at 7: NMI 0.548, against 0.538 at 8) and
    CiteSeer. The graph's Ncut cannot make this choice: it keeps falling as smoothing grows
    while the partition gets worse; modularity tracked the label scores in every experiment of
    ``benchmarks/explore_quality/NOTES.md``.

    Cost per depth tried: :math:`O(KEF)` for the smoothing, the embedding (see there) and
    :math:`k`-means on :math:`N \times k`; memory :math:`O(E + NF)`. The default grid with
    refinement tries about 8 depths. On graphs larger than ``kmeans_sample_size`` nodes the
    :math:`k`-means restarts of each depth run on a random sample of that many embedded rows and
    every node goes to its nearest centre, which is enough to score the depth; the chosen depth
    then gets up to 20 Lloyd iterations over all rows from its centres. With ``merge_split``,
    the chosen partition is then improved by
    :func:`~neuncut_pyg.refinement.merge_split_refinement`: moves that merge two clusters and
    bisect a third on the embedding, made while they lower the Ncut and raise the modularity.
    They undo the typical mistake of :math:`k`-means with communities of very different sizes,
    the largest halved and two small ones merged (a planted graph of ogbn-products' degree with
    Zipf sizes, 400k nodes: NMI 0.927 to 0.970, 4.6 s), and leave the partitions of Cora and
    CiteSeer as they are (no move improves both). On an ogbn-arxiv-sized
    planted graph (169k nodes, 40 communities, the grid without refinement, 3 restarts) this took
    13.8 s against 33.4 s for restarts over all rows, and its partition was no worse (modularity
    0.397 against 0.383, NMI 0.646 against 0.642).

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
    from neuncut_pyg.metrics import modularity
    from neuncut_pyg.propagation import propagate_features
    from neuncut_pyg.train import to_sparse_adjacency

    if not isinstance(x, Tensor) or x.dim() != 2:
        raise ValueError(f"x must be a 2-D feature tensor [N, F], got {getattr(x, 'shape', type(x).__name__)}")
    num_nodes = x.size(0)
    _validate_num_clusters(k, num_nodes)
    _validate_n_init(n_init)
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
                centres_at[depth] = _sample_centres(embedding, k, n_init=n_init, seed=seed,
                                                    sample_size=kmeans_sample_size)
                labels = _nearest_centre(embedding, centres_at[depth])
            else:
                labels = kmeans_features(embedding, k, seed=seed, n_init=n_init)
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
        labels = _finish_kmeans(embedding, centres_at[best.steps], seed=seed)
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
