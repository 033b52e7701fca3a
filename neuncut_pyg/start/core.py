r"""The core schedule of the method's start: how deep inside its start cluster each node lies
(:func:`centre_margins`), the core of every cluster (:func:`partition_core`), and the share of
the cores each of ``NeuNcut.fit``'s runs is fitted to (:func:`core_fractions`).

Fitting a network to every node of a start partition, boundary nodes included, saturates its
softmax on the start's mistakes, and the relaxed Ncut then keeps them. Fitting it to the core of
each cluster only leaves the nodes near the boundaries to the network and the relaxed Ncut.
"""
from __future__ import annotations

from typing import List

import numpy as np
from numpy.typing import NDArray

from neuncut_pyg._validation import check_int
from neuncut_pyg.start.embedding import centre_distance_blocks

__all__ = ["centre_margins", "partition_core", "core_fractions", "CORE_SHRINK"]

#: Run :math:`r` of a spectral start is fitted to the share ``CORE_SHRINK ** r`` of each start
#: cluster (run 0: all of it); see ``docs/defaults.md``.
CORE_SHRINK = 0.5


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
    for start, dist in centre_distance_blocks(points, centres):
        rows, stop = np.arange(dist.shape[0]), start + dist.shape[0]
        own = dist[rows, dense[start:stop]].copy()
        dist[rows, dense[start:stop]] = np.inf
        margins[start:stop] = dist.min(axis=1) - own
    return margins


def partition_core(labels: NDArray[np.integer], margins: NDArray[np.floating], fraction: float) -> NDArray[np.bool_]:
    r"""The core of each cluster: its ``ceil(fraction * size)`` nodes of largest margin
    (:func:`centre_margins`), as a boolean mask ``[N]``.

    ``NeuNcut.fit(init="spectral")`` fits its later runs to the cores of the start partition
    only (:func:`core_fractions`) and lets the relaxed Ncut place the nodes near the boundaries.

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




def core_fractions(n_init: int, *, shrink: float = CORE_SHRINK) -> List[float]:
    r"""The share of each start cluster that run :math:`r` of ``n_init`` is fitted to:
    ``shrink ** r`` (all nodes, then halves, then quarters for the default); ``shrink=1`` fits
    every run to the whole start."""
    n_init = check_int(n_init, "n_init")
    if not 0.0 < shrink <= 1.0:
        raise ValueError(f"shrink must be in (0, 1], got {shrink!r}")
    return [shrink ** run for run in range(n_init)]
