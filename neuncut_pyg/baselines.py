r"""What NeuNcut is compared with: spectral clustering of the graph (:func:`spectral_clustering`)
and :math:`k`-means on the node features (:func:`kmeans_features`). (The spectral clustering of
graph-smoothed features, NeuNcut's own start, lives in :mod:`neuncut_pyg.start`.)

All return hard labels as an ``int64`` numpy array ``[N]``, ready for
:func:`neuncut_pyg.metrics.evaluate_clustering`.
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
import torch
from numpy.typing import NDArray
from torch import Tensor

from neuncut_pyg._validation import check_int, check_num_clusters
from neuncut_pyg.adjacency import Adj, as_coo
from neuncut_pyg.start.embedding import feature_rows, kmeans_labels

__all__ = ["normalized_adjacency", "spectral_clustering", "kmeans_features"]


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

    Only sparse products with :math:`\mathbf{A}` are used: memory is :math:`O(E + Nk)`.

    A graph with more than :math:`k` connected components has eigenvalue 1 with multiplicity
    above :math:`k`; the eigenvectors then indicate components and the partition mostly
    separates small components — the known weakness of this baseline on sparse real graphs
    such as Cora (78 components). The default therefore uses the
    *regularized* spectral clustering of Qin and Rohe (2013): :math:`\mathbf{W}_\tau =
    \mathbf{W} + \frac{\tau}{N}\mathbf{1}\mathbf{1}^{\top}` with :math:`\tau` the mean degree,
    their recommended label-free choice. The rank-one term is applied implicitly inside the
    Lanczos products, so nothing dense is formed.

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
    num_nodes = check_int(num_nodes, "num_nodes")
    check_num_clusters(k, num_nodes)
    check_int(n_init, "n_init")
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
    return kmeans_labels(embedding, k, seed=seed, n_init=n_init)


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
    features = np.asarray(feature_rows(x), dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"x must be a 2-D feature matrix [N, F], got shape {list(features.shape)}")
    if features.shape[0] == 0 or features.shape[1] == 0:
        raise ValueError(f"x is empty: got shape {list(features.shape)}")
    if not np.isfinite(features).all():
        raise ValueError("x contains NaN or infinite values")
    check_num_clusters(k, features.shape[0])
    check_int(n_init, "n_init")
    return kmeans_labels(features, k, seed=seed, n_init=n_init)
