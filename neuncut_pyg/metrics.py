r"""Scores of a hard partition: against the graph (cut quality) and against ground-truth labels.

Graph scores take the graph in any PyG ``Adj`` form, with the conventions of the loss
(:mod:`neuncut_pyg.loss`): the affinity is the symmetrized :math:`\mathbf{W}' =
(\mathbf{W} + \mathbf{W}^{\top})/2` (which is :math:`\mathbf{W}` itself for an undirected
``edge_index`` storing both directions), degrees are its row sums
:math:`\mathbf{d} = \mathbf{W}'\mathbf{1}` (a self-loop :math:`(i, i)` of weight :math:`w`
adds :math:`w` to :math:`d_i`), and for a cluster :math:`C`

.. math::
    \mathrm{vol}(C) = \sum_{i \in C} d_i, \qquad
    \mathrm{cut}(C) = \sum_{i \in C,\, j \notin C} W'_{ij}
        = \mathrm{vol}(C) - \sum_{i, j \in C} W'_{ij}.

Label scores compare a clustering with classes; neither needs the two to use the same ids
or even the same number of groups.

Labels are 1-D integer tensors or arrays of length :math:`N`. Cluster ids need not be
contiguous (``[3, 3, 7, 12]`` is a 3-cluster partition); they are relabelled internally.
"""
from __future__ import annotations

from typing import Dict, NamedTuple, Optional, Union

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix
from torch import Tensor

from neuncut_pyg.adjacency import Adj, edge_arrays, is_sparse_tensor
from neuncut_pyg.loss import ncut_statistics

# Edges per block in the counting passes over the edges.
_EDGE_CHUNK = 1 << 22

__all__ = [
    "LabelsLike",
    "normalized_cut",
    "conductance",
    "modularity",
    "nmi",
    "ari",
    "clustering_accuracy",
    "pairwise_f1",
    "evaluate_clustering",
]

LabelsLike = Union[Tensor, NDArray[np.integer]]


# ----------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------


def _as_label_array(labels: LabelsLike, name: str) -> NDArray[np.int64]:
    """Checks a label vector and returns it as a 1-D ``int64`` numpy array."""
    if isinstance(labels, Tensor):
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise ValueError(f"{name} must hold integer cluster ids, got a tensor of dtype {labels.dtype}")
        array = labels.detach().cpu().numpy()
    elif isinstance(labels, np.ndarray):
        array = labels
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must hold integer cluster ids, got an array of dtype {array.dtype}")
    else:
        raise TypeError(f"{name} must be a torch.Tensor or a numpy.ndarray, got {type(labels).__name__}")
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one id per node), got shape {list(array.shape)}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: there are no nodes to score")
    if array.min() < 0:
        raise ValueError(f"{name} must be non-negative cluster ids, got a minimum of {int(array.min())}")
    return array.astype(np.int64, copy=False)


def _contiguous(labels: NDArray[np.int64]) -> tuple[NDArray[np.int64], int]:
    """Relabels ids to ``0..k-1`` (order preserved) and returns them with ``k``."""
    unique, inverse = np.unique(labels, return_inverse=True)
    return inverse.astype(np.int64, copy=False).reshape(-1), int(unique.size)


def _label_pair(y_true: LabelsLike, y_pred: LabelsLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    true = _as_label_array(y_true, "y_true")
    pred = _as_label_array(y_pred, "y_pred")
    if true.size != pred.size:
        raise ValueError(
            f"y_true and y_pred must label the same nodes: got {true.size} and {pred.size} labels"
        )
    return true, pred


class _ClusterSums(NamedTuple):
    """Per-cluster sums over the symmetrized graph, in float64, shape ``[k]`` each."""

    vol: NDArray[np.float64]  # vol(C)
    intra: NDArray[np.float64]  # sum_{i, j in C} W'_ij


def _cluster_sums(
    labels: NDArray[np.int64], num_clusters: int, edge_index: Adj, edge_weight: Optional[Tensor]
) -> _ClusterSums:
    """Volumes and intra-cluster weights in :math:`O(E)`, without forming memberships."""
    row, col, weight = edge_arrays(edge_index, edge_weight, num_nodes=labels.size)
    vol, intra = np.zeros(num_clusters), np.zeros(num_clusters)
    # Edges in blocks: the label temporaries stay small and in cache (several times faster than
    # whole-array passes on large graphs), and unweighted graphs are plain counts.
    for start in range(0, row.size, _EDGE_CHUNK):
        stop = start + _EDGE_CHUNK
        row_cluster, col_cluster = labels[row[start:stop]], labels[col[start:stop]]
        block = None if weight is None else weight[start:stop]
        # Each stored edge (i, j, w) puts w/2 into d_i and w/2 into d_j of the symmetrized graph.
        vol += np.bincount(row_cluster, weights=block, minlength=num_clusters)
        vol += np.bincount(col_cluster, weights=block, minlength=num_clusters)
        inside = row_cluster == col_cluster
        intra += np.bincount(row_cluster[inside], weights=None if block is None else block[inside],
                             minlength=num_clusters)
    vol *= 0.5
    return _ClusterSums(vol, intra)


def cluster_pair_weights(labels: NDArray[np.int64], num_clusters: int, row: NDArray[np.int64],
                         col: NDArray[np.int64], weight: Optional[NDArray[np.float64]]) -> NDArray[np.float64]:
    r"""``P[a, b]``: the weight between clusters ``a`` and ``b`` of the symmetrized graph, from
    the edge arrays of :func:`~neuncut_pyg.adjacency.edge_arrays` (each stored edge counts half
    in each direction, as in :func:`_cluster_sums`), so ``P.sum(1)`` are the volumes and
    ``diag(P)`` the weights inside. :math:`O(E + k^2)` time, :math:`O(k^2)` memory: for
    partitions with few clusters (:mod:`~neuncut_pyg.start.refinement` calls it once per move)."""
    flat = np.zeros(num_clusters * num_clusters)
    for start in range(0, row.size, _EDGE_CHUNK):
        key = labels[row[start:start + _EDGE_CHUNK]] * num_clusters
        key += labels[col[start:start + _EDGE_CHUNK]]
        block = None if weight is None else weight[start:start + _EDGE_CHUNK]
        flat += np.bincount(key, weights=block, minlength=num_clusters * num_clusters)
    pairs = flat.reshape(num_clusters, num_clusters)
    return 0.5 * (pairs + pairs.T)


def modularity_from_sums(vol: NDArray[np.float64], intra: NDArray[np.float64], resolution: float = 1.0) -> float:
    """:func:`modularity` from the clusters' volumes and intra-cluster weights."""
    two_m = vol.sum()
    if two_m <= 0:
        raise ValueError("modularity is undefined for a graph with no edges (total edge weight is 0)")
    return float(np.sum(intra / two_m - resolution * (vol / two_m) ** 2))


# ----------------------------------------------------------------------------------------------
# Graph scores
# ----------------------------------------------------------------------------------------------


def normalized_cut(labels: LabelsLike, edge_index: Adj, edge_weight: Optional[Tensor] = None) -> float:
    r"""The discrete :math:`k`-way normalized cut of a partition.

    .. math::
        \mathrm{Ncut}(C_1, \dots, C_k) = \sum_{j:\ \mathrm{vol}(C_j) > 0}
            \frac{\mathrm{cut}(C_j)}{\mathrm{vol}(C_j)}

    It ranges over :math:`[0, k]`; lower is better. It is the relaxed objective of
    :func:`~neuncut_pyg.loss.relaxed_ncut_loss` evaluated at the one-hot memberships of the
    partition (where the relaxation is exact), and is computed by that same code,
    :func:`~neuncut_pyg.loss.ncut_statistics`. Clusters of zero volume (isolated nodes only)
    have a zero cut too and are left out rather than counted as :math:`0/0`.

    Args:
        labels (torch.Tensor or numpy.ndarray): Cluster id of each node, ``[N]``.
        edge_index (torch.Tensor or SparseTensor): The graph over the ``N`` nodes, in any PyG
            ``Adj`` form.
        edge_weight (torch.Tensor, optional): Non-negative edge weights ``[E]``.

    Cost: :math:`O(Ek + Nk^2)` time and :math:`O(Nk)` memory for the one-hot memberships.
    """
    ids, num_clusters = _contiguous(_as_label_array(labels, "labels"))
    # Memberships live where the graph lives; anything else is rejected by ncut_statistics.
    device = edge_index.device() if is_sparse_tensor(edge_index) else getattr(edge_index, "device", "cpu")
    index = torch.from_numpy(ids).to(device)
    # A single cluster gets an empty companion column: the statistics need k >= 2, and an empty
    # cluster has zero volume, so it is left out of the sum below.
    one_hot = torch.nn.functional.one_hot(index, max(num_clusters, 2)).to(torch.float64)
    stats = ncut_statistics(one_hot, edge_index, edge_weight)
    nonempty = stats.vol > 0
    return float((stats.cut_num[nonempty] / stats.vol[nonempty]).sum())


def conductance(labels: LabelsLike, edge_index: Adj, edge_weight: Optional[Tensor] = None) -> float:
    r"""The mean conductance of the clusters of a partition.

    .. math::
        \phi(C) = \frac{\mathrm{cut}(C)}{\min\bigl(\mathrm{vol}(C),\ \mathrm{vol}(V \setminus C)\bigr)},
        \qquad
        \bar\phi = \frac{1}{|\mathcal{C}^{+}|} \sum_{C \in \mathcal{C}^{+}} \phi(C)

    where :math:`\mathcal{C}^{+}` are the clusters whose denominator is positive (a cluster
    with no edges, or one holding all the volume, has no defined conductance and is skipped).
    :math:`\phi(C) \in [0, 1]`; lower is better. Returns ``0.0`` when no cluster qualifies.

    Args:
        labels (torch.Tensor or numpy.ndarray): Cluster id of each node, ``[N]``.
        edge_index (torch.Tensor or SparseTensor): The graph, in any PyG ``Adj`` form.
        edge_weight (torch.Tensor, optional): Non-negative edge weights ``[E]``.

    Cost: :math:`O(N + E)`.
    """
    ids, num_clusters = _contiguous(_as_label_array(labels, "labels"))
    vol, intra = _cluster_sums(ids, num_clusters, edge_index, edge_weight)
    cut = np.clip(vol - intra, 0.0, None)  # clip float round-off, a cut is never negative
    denominator = np.minimum(vol, vol.sum() - vol)
    defined = denominator > 0
    if not defined.any():
        return 0.0
    return float(np.mean(cut[defined] / denominator[defined]))


def modularity(
    labels: LabelsLike,
    edge_index: Adj,
    edge_weight: Optional[Tensor] = None,
    resolution: float = 1.0,
) -> float:
    r"""Newman's modularity of a partition.

    .. math::
        Q = \sum_{C} \left[ \frac{\sum_{i, j \in C} W'_{ij}}{2m}
            - \gamma \left(\frac{\mathrm{vol}(C)}{2m}\right)^{2} \right],
        \qquad 2m = \sum_i d_i

    with resolution :math:`\gamma`. :math:`Q \in [-1/2, 1]`; higher is better. This is
    ``networkx.algorithms.community.modularity`` for graphs without self-loops (networkx counts
    a self-loop twice in a degree; here it counts once, as in :math:`\mathbf{W}\mathbf{1}`).

    Args:
        labels (torch.Tensor or numpy.ndarray): Cluster id of each node, ``[N]``.
        edge_index (torch.Tensor or SparseTensor): The graph, in any PyG ``Adj`` form.
        edge_weight (torch.Tensor, optional): Non-negative edge weights ``[E]``.
        resolution (float): The resolution :math:`\gamma`; below 1 favours larger clusters.
            (default: ``1.0``)

    Raises:
        ValueError: if the graph has no edge weight at all (modularity is undefined).

    Cost: :math:`O(N + E)`.
    """
    if not (isinstance(resolution, (int, float)) and np.isfinite(resolution)):
        raise ValueError(f"resolution must be a finite number, got {resolution!r}")
    ids, num_clusters = _contiguous(_as_label_array(labels, "labels"))
    vol, intra = _cluster_sums(ids, num_clusters, edge_index, edge_weight)
    return modularity_from_sums(vol, intra, resolution)


# ----------------------------------------------------------------------------------------------
# Label scores
# ----------------------------------------------------------------------------------------------


def nmi(y_true: LabelsLike, y_pred: LabelsLike) -> float:
    r"""Normalized mutual information (arithmetic normalization, as scikit-learn), in
    :math:`[0, 1]`; higher is better."""
    true, pred = _label_pair(y_true, y_pred)
    return float(normalized_mutual_info_score(true, pred))


def ari(y_true: LabelsLike, y_pred: LabelsLike) -> float:
    r"""Adjusted Rand index (scikit-learn), in :math:`[-1/2, 1]`; 0 for a random partition."""
    true, pred = _label_pair(y_true, y_pred)
    return float(adjusted_rand_score(true, pred))


def clustering_accuracy(y_true: LabelsLike, y_pred: LabelsLike) -> float:
    r"""Accuracy under the best one-to-one matching of clusters to classes.

    .. math::
        \mathrm{ACC} = \max_{\pi} \frac{1}{N} \sum_{i} \mathbb{1}\bigl[y_i = \pi(\hat y_i)\bigr]

    over injective maps :math:`\pi` from clusters to classes, found by the Hungarian method on
    the contingency table. With more clusters than classes the unmatched clusters count as
    errors (and vice versa), so over-segmenting is not rewarded.

    Cost: :math:`O(N + k c \min(k, c))` for :math:`k` clusters and :math:`c` classes.
    """
    true, pred = _label_pair(y_true, y_pred)
    table = contingency_matrix(true, pred)  # [classes, clusters]
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / true.size)


def _pairs(counts: NDArray[np.int64]) -> int:
    """Number of unordered pairs within groups of the given sizes."""
    counts = counts.astype(np.int64, copy=False)
    return int((counts * (counts - 1) // 2).sum())


def pairwise_f1(y_true: LabelsLike, y_pred: LabelsLike) -> float:
    r"""F1 score over node pairs.

    A pair of nodes is *positive* when the clustering puts them together; it is correct when
    their classes agree. With :math:`n_{ij}` the contingency table (class :math:`i`, cluster
    :math:`j`), :math:`a_i` its row sums and :math:`b_j` its column sums,

    .. math::
        P = \frac{\sum_{ij} \binom{n_{ij}}{2}}{\sum_j \binom{b_j}{2}}, \qquad
        R = \frac{\sum_{ij} \binom{n_{ij}}{2}}{\sum_i \binom{a_i}{2}}, \qquad
        F_1 = \frac{2PR}{P + R}.

    No pair is enumerated: the cost is :math:`O(N)` plus the non-zeros of the table.
    Degenerate cases: if neither labelling puts any two nodes together they agree on every
    pair and :math:`F_1 = 1`; if only one does, :math:`F_1 = 0`.
    """
    true, pred = _label_pair(y_true, y_pred)
    table = contingency_matrix(true, pred, sparse=True)
    together_both = _pairs(table.data)
    together_pred = _pairs(np.asarray(table.sum(axis=0)).ravel())
    together_true = _pairs(np.asarray(table.sum(axis=1)).ravel())
    if together_pred == 0 and together_true == 0:
        return 1.0
    if together_both == 0:
        return 0.0
    precision = together_both / together_pred
    recall = together_both / together_true
    return float(2 * precision * recall / (precision + recall))


# ----------------------------------------------------------------------------------------------
# All at once
# ----------------------------------------------------------------------------------------------


def evaluate_clustering(
    labels: LabelsLike,
    edge_index: Optional[Adj] = None,
    edge_weight: Optional[Tensor] = None,
    y_true: Optional[LabelsLike] = None,
) -> Dict[str, float]:
    r"""Every score that applies to a partition.

    Args:
        labels (torch.Tensor or numpy.ndarray): Predicted cluster id of each node, ``[N]``.
        edge_index (torch.Tensor or SparseTensor, optional): The graph, for the graph scores.
        edge_weight (torch.Tensor, optional): Non-negative edge weights ``[E]``.
        y_true (torch.Tensor or numpy.ndarray, optional): Ground-truth classes ``[N]``, for
            the label scores.

    Returns:
        A dict, in this order, of ``"NMI"``, ``"ACC"``, ``"ARI"``, ``"F1"`` (when ``y_true`` is
        given) and ``"Ncut"``, ``"Modularity"``, ``"Conductance"`` (when the graph is given).

    Raises:
        ValueError: if neither ``y_true`` nor ``edge_index`` is given, or on bad labels.
    """
    if y_true is None and edge_index is None:
        raise ValueError("nothing to evaluate: give y_true (label scores), edge_index (graph scores) or both")
    if edge_index is None and edge_weight is not None:
        raise ValueError("edge_weight was given without edge_index")
    pred = _as_label_array(labels, "labels")
    scores: Dict[str, float] = {}
    if y_true is not None:
        scores["NMI"] = nmi(y_true, pred)
        scores["ACC"] = clustering_accuracy(y_true, pred)
        scores["ARI"] = ari(y_true, pred)
        scores["F1"] = pairwise_f1(y_true, pred)
    if edge_index is not None:
        scores["Ncut"] = normalized_cut(pred, edge_index, edge_weight)
        scores["Modularity"] = modularity(pred, edge_index, edge_weight)
        scores["Conductance"] = conductance(pred, edge_index, edge_weight)
    return scores
