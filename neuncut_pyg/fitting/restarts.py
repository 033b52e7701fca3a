r"""The restart loop of ``NeuNcut.fit``: ``n_init`` runs, each optionally fitted to (the core
of) a start partition first, the run with the lowest full-graph loss kept, as
:class:`sklearn.cluster.KMeans` keeps its lowest-inertia run; then the kept run against the
start itself (:func:`never_worse_than_start`).
"""
from __future__ import annotations

import copy
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor
from torch_sparse import SparseTensor

from neuncut_pyg.fitting.loops import TrainHistory, train_to_partition
from neuncut_pyg.fitting.strategies import FittingStrategy
from neuncut_pyg.metrics import normalized_cut
from neuncut_pyg.start import partition_core

__all__ = ["StartTarget", "FittedRuns", "fit_runs", "KeptPartition", "never_worse_than_start", "DISTILL_STEPS",
           "DISTILL_CORE_STEPS", "DISTILL_LR", "DISTILL_WEIGHT_DECAY"]

# Cross-entropy steps that fit the network to the start: all nodes, or a core (docs/defaults.md).
DISTILL_STEPS = 30
DISTILL_CORE_STEPS = 200
DISTILL_LR = 1e-2
DISTILL_WEIGHT_DECAY = 5e-4


class StartTarget(NamedTuple):
    """A start partition and how much of it each run is fitted to."""

    #: Start cluster of each node ``[N]`` (a tensor on the features' device).
    labels: Tensor
    #: How deep inside its cluster each node lies ``[N]`` (:func:`~neuncut_pyg.start.centre_margins`).
    margins: NDArray[np.float64]
    #: The share of every cluster run ``r`` is fitted to (:func:`~neuncut_pyg.start.core_fractions`).
    fractions: Sequence[float]


class FittedRuns(NamedTuple):
    """What the restart loop leaves: the kept run's history and labels, and every run's loss."""

    history: TrainHistory
    labels: Tensor
    objectives: List[float]


def fit_runs(model: torch.nn.Module, strategy: FittingStrategy, *, n_init: int, gamma: float,
             warm_start: bool = False, start: Optional[StartTarget] = None) -> FittedRuns:
    r"""Trains ``n_init`` runs of ``model`` with ``strategy`` and leaves the model holding the
    one whose memberships have the lowest relaxed Ncut on the full graph
    (:meth:`~neuncut_pyg.fitting.strategies.FittingStrategy.objective`; evaluation mode).

    Each run re-initializes the parameters (unless ``warm_start``), fits the network to the
    core of the ``start`` partition that its fraction says (if a start is given), then trains
    on the relaxed Ncut.
    """
    best_state: Optional[Dict[str, Tensor]] = None
    kept: Optional[FittedRuns] = None
    objectives: List[float] = []
    for run in range(n_init):
        if not warm_start:
            model.reset_parameters()
        if start is not None:
            fraction = start.fractions[run]
            core = torch.from_numpy(partition_core(start.labels.cpu().numpy(), start.margins, fraction))
            target = start.labels.masked_fill(~core.to(start.labels.device), -1)
            train_to_partition(model, strategy.distill_batches(target),
                               steps=DISTILL_STEPS if fraction == 1.0 else DISTILL_CORE_STEPS, lr=DISTILL_LR,
                               weight_decay=DISTILL_WEIGHT_DECAY)
        history = strategy.train_run("NeuNcut" if n_init == 1 else f"NeuNcut {run + 1}/{n_init}")
        model.eval()
        with torch.no_grad():
            memberships = strategy.memberships()
            objectives.append(strategy.agree(strategy.objective(memberships, gamma)))
        if objectives[-1] == min(objectives):
            kept = FittedRuns(history, memberships.argmax(dim=-1), objectives)
            if n_init > 1:
                best_state = copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    return kept


class KeptPartition(NamedTuple):
    """What :func:`never_worse_than_start` keeps."""

    #: The kept partition ``[N]``.
    labels: Tensor
    #: ``"trained"`` (the network's partition) or ``"start"`` (the start's).
    kept: str
    #: Discrete :math:`k`-way Ncut of ``labels`` (empty clusters counting 1; ``None`` when no
    #: process holds the whole graph).
    ncut: Optional[float]
    #: The start's (``None`` without a start).
    start_ncut: Optional[float]


def never_worse_than_start(model: torch.nn.Module, strategy: FittingStrategy, adj: SparseTensor, labels: Tensor,
                           start: Optional[StartTarget], num_clusters: int) -> KeptPartition:
    r"""The trained partition ``labels``, unless the ``start`` partition has a lower discrete
    :math:`k`-way Ncut (:func:`~neuncut_pyg.metrics.normalized_cut` with ``num_clusters``: a
    cluster left empty counts 1, so collapsing clusters is not rewarded). Label-free: both are
    scored on the objective the loss relaxes, exact at one-hot memberships.

    When the start is kept, the network is re-initialized and fitted by cross-entropy to all of
    it, so that its predictions on new nodes follow the partition kept.
    """
    ncut = normalized_cut(labels.cpu(), adj, num_clusters=num_clusters)
    if start is None:
        return KeptPartition(labels, "trained", ncut, None)
    start_ncut = normalized_cut(start.labels.cpu(), adj, num_clusters=num_clusters)
    if ncut <= start_ncut:
        return KeptPartition(labels, "trained", ncut, start_ncut)
    model.reset_parameters()  # a fresh network fits the start better than one trained away from it
    train_to_partition(model, strategy.distill_batches(start.labels), steps=DISTILL_CORE_STEPS, lr=DISTILL_LR,
                       weight_decay=DISTILL_WEIGHT_DECAY)
    strategy.share_parameters(model)  # each rank re-initialized and fitted on its own draws
    model.eval()
    return KeptPartition(start.labels, "start", start_ncut, start_ncut)
