r"""The restart loop of ``NeuNcut.fit``: ``n_init`` runs, each optionally fitted to (the core
of) a start partition first, the run with the lowest full-graph loss kept, as
:class:`sklearn.cluster.KMeans` keeps its lowest-inertia run.
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
from neuncut_pyg.loss import relaxed_ncut_loss
from neuncut_pyg.start import partition_core

__all__ = ["StartTarget", "FittedRuns", "fit_runs", "DISTILL_STEPS", "DISTILL_CORE_STEPS", "DISTILL_LR",
           "DISTILL_WEIGHT_DECAY"]

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


def fit_runs(model: torch.nn.Module, strategy: FittingStrategy, adj: SparseTensor, *, n_init: int, gamma: float,
             warm_start: bool = False, start: Optional[StartTarget] = None) -> FittedRuns:
    r"""Trains ``n_init`` runs of ``model`` with ``strategy`` and leaves the model holding the
    one whose memberships have the lowest relaxed Ncut on the full graph (evaluation mode).

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
            objectives.append(strategy.agree(float(relaxed_ncut_loss(memberships, adj, gamma=gamma).loss)))
        if objectives[-1] == min(objectives):
            kept = FittedRuns(history, memberships.argmax(dim=-1), objectives)
            if n_init > 1:
                best_state = copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    return kept
