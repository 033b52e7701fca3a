r"""Clustering vectors with NeuNcut: a k-nearest-neighbour affinity graph and an MLP encoder.

For data that are points rather than a graph (images, embeddings), NeuNcut works as the paper
does: build a sparse affinity graph :math:`\mathbf{W}` from the points
(:func:`knn_graph_from_vectors`), and train a network :math:`f: \mathbb{R}^F \to \Delta^k` that
sees **only a point's own features** (an MLP, :class:`MLPEncoder`) to minimise the relaxed
normalized cut of :math:`\mathbf{W}`. The graph is needed for training only: a new point is
assigned by a forward pass of the MLP (:func:`predict_vectors`), with no graph, no
eigen-decomposition and no retraining, the out-of-sample extension spectral clustering lacks.

.. code-block:: python

    model = fit_vectors(x_train, num_clusters=10, n_neighbors=10, epochs=300)
    labels_new = predict_vectors(model, x_new).argmax(dim=-1)
"""
from __future__ import annotations

from typing import Any, Optional, Tuple, Union

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.neighbors import NearestNeighbors
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn import MLP
from torch_geometric.utils import coalesce

from neuncut_pyg._validation import is_int
from neuncut_pyg.models import NeuNcut

__all__ = ["knn_graph_from_vectors", "MLPEncoder", "fit_vectors", "predict_vectors"]

ArrayLike = Union[Tensor, NDArray[np.floating]]


def _as_matrix(x: ArrayLike, name: str = "x") -> NDArray[np.float64]:
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    array = np.asarray(x)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of vectors [N, F], got shape {list(array.shape)}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {list(array.shape)}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def knn_graph_from_vectors(
    x: ArrayLike,
    k: int = 10,
    *,
    scale_neighbor: Optional[int] = None,
    metric: str = "euclidean",
    n_jobs: Optional[int] = None,
) -> Tuple[Tensor, Tensor]:
    r"""A symmetric k-nearest-neighbour graph with self-tuning Gaussian weights.

    Each point is joined to its ``k`` nearest neighbours (itself excluded); the graph is the
    union of these edges in both directions (:math:`i \sim j` if either is among the other's
    neighbours). Edge weights follow the local scaling of Zelnik-Manor and Perona
    (*Self-Tuning Spectral Clustering*, NIPS 2004):

    .. math::
        w_{ij} = \exp\!\left(-\frac{d(x_i, x_j)^2}{\sigma_i \sigma_j}\right), \qquad
        \sigma_i = d(x_i, x_{(m)}),

    :math:`x_{(m)}` being the ``m``-th nearest neighbour of :math:`x_i` (``m = scale_neighbor``,
    by default ``k``). The weight is symmetric by construction. Neighbours come from
    :class:`sklearn.neighbors.NearestNeighbors`: memory is :math:`O(Nk)`, no :math:`N \times N`
    matrix is formed.

    Args:
        x (torch.Tensor or numpy.ndarray): Points ``[N, F]``.
        k (int): Neighbours per point, ``1 <= k < N``. (default: ``10``)
        scale_neighbor (int, optional): ``m`` of the bandwidth, ``1 <= m <= k``.
            (default: ``k``)
        metric (str): Any metric :class:`~sklearn.neighbors.NearestNeighbors` accepts.
            (default: ``"euclidean"``)
        n_jobs (int, optional): Parallel jobs of the neighbour search. (default: ``None``)

    Returns:
        ``(edge_index, edge_weight)``: ``[2, E]`` ``int64`` (both directions, sorted, no
        self-loops or duplicates) and ``[E]`` ``float32`` weights in ``(0, 1]``.

    Raises:
        ValueError: if ``x`` is not a finite 2-D array or ``k`` / ``scale_neighbor`` is out of range.
    """
    points = _as_matrix(x)
    num_points = points.shape[0]
    if not is_int(k) or not 1 <= k < num_points:
        raise ValueError(f"k must be an integer in [1, N - 1] = [1, {num_points - 1}], got {k!r}")
    m = k if scale_neighbor is None else scale_neighbor
    if not is_int(m) or not 1 <= m <= k:
        raise ValueError(f"scale_neighbor must be an integer in [1, k] = [1, {k}], got {scale_neighbor!r}")

    search = NearestNeighbors(n_neighbors=k + 1, metric=metric, n_jobs=n_jobs).fit(points)
    dist, idx = search.kneighbors(points)
    # Drop each point itself. With duplicate points it need not come first: remove the column
    # where it is, or the farthest neighbour if the search did not return it.
    own = idx == np.arange(num_points)[:, None]
    drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
    keep = np.ones_like(own)
    keep[np.arange(num_points), drop] = False
    dist = dist[keep].reshape(num_points, k)
    idx = idx[keep].reshape(num_points, k)

    sigma = dist[:, m - 1]
    positive = sigma[sigma > 0]
    # Points with m identical copies have sigma 0; give them the smallest positive scale.
    floor = positive.min() if positive.size else 1.0
    sigma = np.maximum(sigma, floor)

    row = np.repeat(np.arange(num_points), k)
    col = idx.reshape(-1)
    weight = np.exp(-(dist.reshape(-1) ** 2) / (sigma[row] * sigma[col]))
    edge_index = torch.from_numpy(np.stack([np.concatenate([row, col]), np.concatenate([col, row])])).long()
    edge_weight = torch.from_numpy(np.concatenate([weight, weight])).float()
    # (i, j) found from both ends carries the same weight twice: keep one.
    return coalesce(edge_index, edge_weight, num_nodes=num_points, reduce="max")


class MLPEncoder(torch.nn.Module):
    r"""An MLP that takes the ``encoder(x, edge_index[, edge_weight])`` call of
    :class:`~neuncut_pyg.models.NeuNcut` and ignores the graph.

    A NeuNcut built on it maps each point from its own features, so it assigns points that
    are not in any graph (:func:`predict_vectors`). The graph still shapes the model: it
    defines the loss the MLP is trained on.

    Args:
        in_channels (int): Input features :math:`F`.
        hidden_channels (int): Width of the hidden layers.
        out_channels (int): Output width (the ``encoder_out_channels`` of NeuNcut).
        num_layers (int): Number of linear layers. (default: ``2``)
        **kwargs: Passed to :class:`torch_geometric.nn.MLP` (e.g. ``dropout``, ``norm``).
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, num_layers: int = 2, **kwargs: Any) -> None:
        super().__init__()
        self.mlp = MLP(in_channels=in_channels, hidden_channels=hidden_channels, out_channels=out_channels,
                       num_layers=num_layers, **kwargs)

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        self.mlp.reset_parameters()

    def forward(self, x: Tensor, edge_index: Any = None, edge_weight: Optional[Tensor] = None) -> Tensor:
        """Encodes each row of ``x``; ``edge_index`` and ``edge_weight`` are ignored."""
        return self.mlp(x)


def fit_vectors(
    x: ArrayLike,
    num_clusters: int,
    *,
    n_neighbors: int = 10,
    hidden_channels: int = 256,
    num_layers: int = 2,
    dropout: float = 0.0,
    gamma: float = 40.0,
    epochs: int = 300,
    lr: float = 1e-3,
    n_init: int = 3,
    seed: Optional[int] = None,
    progress: bool = False,
) -> NeuNcut:
    r"""Trains NeuNcut with an :class:`MLPEncoder` on the kNN graph of the points ``x``.

    Args:
        x (torch.Tensor or numpy.ndarray): Training points ``[N, F]`` (scale them first: the
            graph and the MLP both see raw coordinates).
        num_clusters (int): :math:`k \ge 2`.
        n_neighbors (int): ``k`` of :func:`knn_graph_from_vectors`. (default: ``10``)
        hidden_channels (int): MLP width; its output has this width too and is followed by
            NeuNcut's activation, dropout and linear head. (default: ``256``)
        num_layers (int): MLP layers. (default: ``2``)
        dropout (float): Dropout before the head. (default: ``0.0``)
        gamma (float): Orthogonality weight of the loss. (default: ``40.0``)
        epochs, lr, n_init, seed, progress: As in :meth:`NeuNcut.fit`. A single run can end
            in a poor local optimum (on three separated blobs, 1 seed in 3 did); ``n_init``
            runs keep the lowest-loss one, no labels involved. (default: ``n_init=3``)

    Returns:
        NeuNcut: The fitted model; its ``knn_graph_`` attribute holds ``(edge_index, edge_weight)``.
    """
    points = _as_matrix(x)
    edge_index, edge_weight = knn_graph_from_vectors(points, n_neighbors)
    features = torch.from_numpy(points).float()
    if seed is not None:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            encoder = MLPEncoder(features.size(1), hidden_channels, hidden_channels, num_layers)
    else:
        encoder = MLPEncoder(features.size(1), hidden_channels, hidden_channels, num_layers)
    model = NeuNcut(features.size(1), num_clusters, encoder=encoder, dropout=dropout, gamma=gamma,
                    encoder_out_channels=hidden_channels)
    data = Data(x=features, edge_index=edge_index, edge_weight=edge_weight, num_nodes=features.size(0))
    model.fit(data, epochs=epochs, lr=lr, n_init=n_init, seed=seed, progress=progress)
    model.knn_graph_ = (edge_index, edge_weight)
    return model


@torch.no_grad()
def predict_vectors(model: NeuNcut, x: ArrayLike) -> Tensor:
    r"""Memberships ``[M, k]`` of points ``x`` ``[M, F]`` by a forward pass, with no graph.

    Args:
        model (NeuNcut): A model whose encoder ignores the graph (an :class:`MLPEncoder`),
            e.g. from :func:`fit_vectors`.
        x (torch.Tensor or numpy.ndarray): The points, new or not.

    Returns:
        torch.Tensor: Rows summing to one; ``argmax(dim=-1)`` gives the clusters.

    Raises:
        ValueError: if the model's encoder uses the graph (a GNN cannot assign isolated points).
    """
    if not isinstance(getattr(getattr(model, "encoder", None), "net", None), MLPEncoder):
        raise ValueError(
            "predict_vectors needs a NeuNcut whose encoder is an MLPEncoder (it assigns points "
            "without a graph); a GNN encoder needs the graph: use model.predict_proba(data)"
        )
    features = torch.from_numpy(_as_matrix(x)).float()
    empty = torch.empty(2, 0, dtype=torch.long)
    return model.predict_proba(Data(x=features, edge_index=empty, num_nodes=features.size(0)))
