r"""Spectral embeddings and the k-means steps of the method's start, without an
:math:`N \times N` matrix: :func:`feature_spectral_embedding` (the cosine-similarity graph of
feature rows) and the k-means pieces that partition an embedding, sampled on large graphs.
"""
from __future__ import annotations

from typing import Iterator, Tuple, Union

import numpy as np
import scipy.linalg
import scipy.sparse.linalg
import torch
from numpy.typing import NDArray
from sklearn.cluster import KMeans
from torch import Tensor

from neuncut_pyg._validation import check_num_clusters

__all__ = [
    "feature_rows",
    "feature_spectral_embedding",
    "kmeans_labels",
    "nearest_centre",
    "sample_centres",
    "finish_kmeans",
    "centre_distance_blocks",
    "ROW_CHUNK",
]

#: Rows per block where an N x F pass is done in pieces to bound its temporaries.
ROW_CHUNK = 65536
# Above this many feature columns the kernel's eigenvectors come from ARPACK (O(NF) per
# product); below, from the exact (F+1) x (F+1) Gram matrix (O(NF^2), faster for narrow features).
_GRAM_MAX_FEATURES = 512
# Lloyd iterations over all rows that finish a k-means fitted on a sample.
_FULL_LLOYD_ITERATIONS = 20


def feature_rows(x: Union[Tensor, NDArray[np.floating]]) -> NDArray[np.floating]:
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
    features = feature_rows(x)
    if features.ndim != 2 or features.shape[0] == 0 or features.shape[1] == 0:
        raise ValueError(f"x must be a non-empty 2-D feature matrix [N, F], got shape {list(features.shape)}")
    if not np.isfinite(features).all():
        raise ValueError("x contains NaN or infinite values")
    num_nodes = features.shape[0]
    check_num_clusters(k, num_nodes)
    # One N x (F + 1) float64 working array, filled from x in row chunks and scaled in place: at
    # ogbn-products size every extra float64 copy of the features is 2 GB (einsum, unlike
    # np.linalg.norm, forms no N x F temporary).
    num_features = features.shape[1]
    signed = bool((features < 0).any())
    m = np.empty((num_nodes, num_features + int(signed)))
    for start in range(0, num_nodes, ROW_CHUNK):
        block = m[start:start + ROW_CHUNK, :num_features]
        block[...] = features[start:start + ROW_CHUNK]
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



def kmeans_labels(points: NDArray[np.floating], k: int, *, seed: int, n_init: int) -> NDArray[np.int64]:
    """Labels of the best of ``n_init`` k-means++ restarts (scikit-learn) on the rows of ``points``."""
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(points).astype(np.int64)


def centre_distance_blocks(points: NDArray[np.floating],
                            centres: NDArray[np.float64]) -> Iterator[Tuple[int, NDArray[np.float64]]]:
    """``(start, block)`` over row chunks of ``points``: the ``[rows, k]`` squared Euclidean
    distances to ``centres`` less each row's own ``||x||^2``, which every comparison between
    centres cancels; chunked so that the block stays small."""
    centre_norms = np.einsum("ij,ij->i", centres, centres)
    for start in range(0, points.shape[0], ROW_CHUNK):
        yield start, centre_norms[None, :] - 2.0 * points[start:start + ROW_CHUNK] @ centres.T


def nearest_centre(points: NDArray[np.float64], centres: NDArray[np.float64]) -> NDArray[np.int64]:
    """Index of each row's nearest centre (squared Euclidean distance)."""
    labels = np.empty(points.shape[0], dtype=np.int64)
    for start, dist in centre_distance_blocks(points, centres):
        labels[start:start + dist.shape[0]] = np.argmin(dist, axis=1)
    return labels


def sample_centres(points: NDArray[np.float64], k: int, *, n_init: int, seed: int,
                    sample_size: int) -> NDArray[np.float64]:
    """The centres of the best of ``n_init`` k-means restarts on ``sample_size`` random rows."""
    sample = np.random.default_rng(seed).choice(points.shape[0], size=sample_size, replace=False)
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(points[sample]).cluster_centers_


def finish_kmeans(points: NDArray[np.float64], centres: NDArray[np.float64], *, seed: int) -> NDArray[np.int64]:
    """At most ``_FULL_LLOYD_ITERATIONS`` Lloyd iterations over all rows from ``centres``."""
    full = KMeans(n_clusters=centres.shape[0], init=centres, n_init=1, max_iter=_FULL_LLOYD_ITERATIONS,
                  random_state=seed)
    return full.fit_predict(points).astype(np.int64)


