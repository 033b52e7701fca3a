r"""A label-free orthogonality weight :math:`\gamma` that follows :math:`k` and the graph.

The orthogonality term of the relaxed normalized cut (:mod:`neuncut_pyg.loss`) is a penalty: it
is what stops the softmax memberships from collapsing into fewer than :math:`k` clusters, since
merging clusters only ever lowers the cut. Its weight must therefore be large enough that a
collapse costs more than any partition worth finding, and no larger, since beyond that it only
gives the balancing term more say against the cut.

Collapsing every node into one cluster makes :math:`\mathbf{H}^{\top}\mathbf{D}\mathbf{H} =
\mathrm{diag}(1, 0, \dots, 0)`, so :math:`\mathcal{L}_{\mathrm{orth}} = \sqrt{k-1}/k` and the
loss is :math:`\frac{\gamma}{2}\sqrt{k-1}/k` with a zero cut. A partition no better than chance
(each node in a uniformly random cluster) has the expected normalized cut

.. math::
    \mathrm{Ncut}_{\mathrm{chance}} = (k - 1)\,\rho, \qquad
    \rho = \frac{\sum_{i \neq v} w_{iv}}{\sum_{i, v} w_{iv}},

(:math:`\rho` the share of the affinity off the diagonal, 1 for a graph without self-loops).
:func:`auto_gamma` makes the two equal:

.. math::
    \gamma_{\mathrm{auto}} = \frac{2k}{\sqrt{k-1}}\,\mathrm{Ncut}_{\mathrm{chance}}
        = 2k\sqrt{k-1}\,\rho,

so that *every* partition better than chance is preferred to the total collapse. Emptying
:math:`m` of the :math:`k` clusters costs :math:`\frac{\gamma}{2}\sqrt{m}/k = \sqrt{(k-1)m}\,\rho`
in the penalty: at least :math:`m\rho`, about what the cut terms of :math:`m` clusters that keep
nothing inside would save.

Why not the paper's constant (:math:`\gamma = 80`): at :math:`k = 40` the collapse then costs
:math:`6.2`, less than the cut of a good 40-way partition of a graph whose communities keep half
of their edges inside (about 20), so training collapses; the rule gives :math:`\gamma \approx
500` there, and :math:`34` for Cora (:math:`k = 7`). ``docs/defaults.md`` has the measurements.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from neuncut_pyg._validation import check_int
from neuncut_pyg.adjacency import Adj, as_coo

__all__ = ["auto_gamma", "chance_ncut", "collapse_loss"]


def _check_k(num_clusters: int) -> int:
    return check_int(num_clusters, "num_clusters", minimum=2)


def off_diagonal_share(edge_index: Adj, edge_weight: Optional[Tensor] = None, *, num_nodes: int) -> float:
    r""":math:`\rho`: the share of the total affinity :math:`\sum_{i,v} w_{iv}` on pairs
    :math:`i \neq v` (1 for a graph without self-loops)."""
    row, col, weight = as_coo(edge_index, edge_weight, num_nodes=num_nodes, dtype=torch.float64)
    total = float(weight.sum())
    if total <= 0:
        raise ValueError("the graph has no edges of positive weight: its normalized cut is undefined")
    return float(weight[row != col].sum()) / total


def chance_ncut(num_clusters: int, edge_index: Adj, edge_weight: Optional[Tensor] = None, *, num_nodes: int) -> float:
    r"""Expected normalized cut of a uniformly random :math:`k`-way partition,
    :math:`(k-1)\rho` (see the module docs)."""
    k = _check_k(num_clusters)
    return (k - 1) * off_diagonal_share(edge_index, edge_weight, num_nodes=num_nodes)


def collapse_loss(num_clusters: int, gamma: float) -> float:
    r"""The loss :math:`\frac{\gamma}{2}\sqrt{k-1}/k` of memberships collapsed into one cluster."""
    k = _check_k(num_clusters)
    return 0.5 * gamma * math.sqrt(k - 1) / k


def auto_gamma(num_clusters: int, edge_index: Adj, edge_weight: Optional[Tensor] = None, *, num_nodes: int) -> float:
    r"""The label-free orthogonality weight :math:`\gamma_{\mathrm{auto}} = 2k\sqrt{k-1}\,\rho`:
    the one at which collapsing into a single cluster costs exactly the expected normalized cut
    of a random partition (see the module docs).

    Args:
        num_clusters (int): Number of clusters :math:`k \geq 2`.
        edge_index (Adj): The affinity :math:`\mathbf{W}` in any ``Adj`` form.
        edge_weight (torch.Tensor, optional): Non-negative edge weights ``[E]``.
        num_nodes (int): Number of nodes :math:`N`.

    Example:
        >>> auto_gamma(7, data.edge_index, num_nodes=data.num_nodes)   # Cora
        34.29...
    """
    k = _check_k(num_clusters)
    return 2.0 * k / math.sqrt(k - 1) * chance_ncut(k, edge_index, edge_weight, num_nodes=num_nodes)
