r"""How one run of ``NeuNcut.fit`` trains: a *fitting strategy* per mode, with one interface.

- :class:`FullBatch`: every step sees the whole graph;
- :class:`MiniBatch`: ``NeighborLoader`` batches whose seed nodes estimate the full graph's
  statistics (:mod:`neuncut_pyg.sampling`);
- :class:`DataParallel`: mini-batches split over the ranks of a ``torch.distributed`` process
  group, statistics combined before the ratio is taken, gradients averaged by DDP
  (:mod:`neuncut_pyg.distributed`).

Every strategy offers what the restart loop (:func:`~neuncut_pyg.fitting.restarts.fit_runs`)
needs: :meth:`~FittingStrategy.train_run` (one run of relaxed-Ncut training),
:meth:`~FittingStrategy.memberships` (every node's memberships, for scoring the run),
:meth:`~FittingStrategy.distill_batches` (what fitting the network to a start partition feeds
on) and :meth:`~FittingStrategy.agree` (one value every rank acts on).
"""
from __future__ import annotations

import math
from typing import Callable, Iterator, List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader
from torch_sparse import SparseTensor

from neuncut_pyg import distributed as dist
from neuncut_pyg.fitting.loops import TrainHistory, train_full_batch, train_mini_batch
from neuncut_pyg.sampling import batch_estimate

__all__ = ["TrainSettings", "FittingStrategy", "FullBatch", "MiniBatch", "DataParallel"]


class TrainSettings(NamedTuple):
    """The optimizer settings of a run of relaxed-Ncut training."""

    epochs: int
    lr: float
    weight_decay: float
    gamma: float
    progress: bool


class FittingStrategy:
    """The interface of a mode of training (see the module docs)."""

    def train_run(self, desc: str) -> TrainHistory:
        """Trains the model's current parameters on the relaxed Ncut; returns the history."""
        raise NotImplementedError

    def memberships(self) -> Tensor:
        """The memberships ``[N, k]`` of every node (the caller sets evaluation mode and no_grad)."""
        raise NotImplementedError

    def distill_batches(self, target: Tensor) -> Iterator[Tuple[Tensor, Tensor]]:
        """Endless ``(s, target)`` pairs for :func:`~neuncut_pyg.fitting.loops.train_to_partition`,
        ``s`` with gradients; nodes with ``target < 0`` are left out by the loss."""
        raise NotImplementedError

    def agree(self, value: float) -> float:
        """The value every rank acts on (one process: ``value`` itself)."""
        return value


class FullBatch(FittingStrategy):
    """Every step computes the memberships of the whole graph.

    Args:
        model (torch.nn.Module): Owns the parameters.
        memberships (Callable): ``rows -> S`` of the given rows (``None``: every node), with
            gradients in training mode.
        adj (SparseTensor): The affinity of the loss.
        settings (TrainSettings): The run's optimizer settings.
        distill_sample (int, optional): Fit the start on this many random nodes per step
            (for encoders that map rows independently, on larger graphs); ``None`` uses all.
    """

    def __init__(self, model: torch.nn.Module, memberships: Callable[[Optional[Tensor]], Tensor],
                 adj: SparseTensor, settings: TrainSettings, *, distill_sample: Optional[int] = None) -> None:
        self.model = model
        self._memberships = memberships
        self.adj = adj
        self.settings = settings
        self.distill_sample = distill_sample

    def train_run(self, desc: str) -> TrainHistory:
        s = self.settings
        return train_full_batch(self.model, lambda: self._memberships(None), self.adj, epochs=s.epochs, lr=s.lr,
                                weight_decay=s.weight_decay, gamma=s.gamma, progress=s.progress, desc=desc)

    def memberships(self) -> Tensor:
        return self._memberships(None)

    def distill_batches(self, target: Tensor) -> Iterator[Tuple[Tensor, Tensor]]:
        labelled = (target >= 0).nonzero().view(-1)
        sample = self.distill_sample is not None and target.numel() > self.distill_sample
        while True:
            if sample:
                # Cross-entropy is a sum over nodes and the rows are mapped independently: a
                # random sample of the fitted nodes per step fits the partition as well.
                rows = labelled[torch.randint(0, labelled.numel(), (self.distill_sample,), device=labelled.device)]
                yield self._memberships(rows), target[rows]
            else:
                yield self._memberships(None), target


class MiniBatch(FittingStrategy):
    """One step per ``NeighborLoader`` batch of ``batch_size`` seed nodes.

    Args:
        on_batch (torch.nn.Module): ``batch -> S`` for every node of a batch.
        sampled (Data): The graph as the loader samples it
            (:func:`~neuncut_pyg.sampling.sampling_data` plus the encoder's node terms).
        memberships (Callable): ``() -> S`` of every node, in batches.
        settings (TrainSettings): The run's optimizer settings.
        num_neighbors (List[int]): Fan-out per hop; the first hop feeds the loss.
        batch_size (int): Seed nodes per step.
    """

    def __init__(self, on_batch: torch.nn.Module, sampled: Data, memberships: Callable[[], Tensor],
                 settings: TrainSettings, *, num_neighbors: List[int], batch_size: int) -> None:
        self.on_batch = on_batch
        self.sampled = sampled
        self._memberships = memberships
        self.settings = settings
        self.num_nodes = int(sampled.num_nodes)
        self.loader = self._loader(num_neighbors, batch_size)

    def _loader(self, num_neighbors: List[int], batch_size: int):
        return NeighborLoader(self.sampled, num_neighbors=num_neighbors, batch_size=min(batch_size, self.num_nodes),
                              shuffle=True)

    def _estimate(self, s: Tensor, batch: Data):
        return batch_estimate(s, batch, self.num_nodes)

    def _train_module(self) -> torch.nn.Module:
        return self.on_batch

    def train_run(self, desc: str) -> TrainHistory:
        s = self.settings
        return train_mini_batch(self._train_module(), self.loader, self._estimate, epochs=s.epochs, lr=s.lr,
                                weight_decay=s.weight_decay, gamma=s.gamma, progress=s.progress, desc=desc)

    def memberships(self) -> Tensor:
        return self._memberships()

    def distill_batches(self, target: Tensor) -> Iterator[Tuple[Tensor, Tensor]]:
        while True:
            for batch in self.loader:
                seeds = batch.n_id[: batch.batch_size]
                if bool((target[seeds] >= 0).any()):  # else no seed is fitted
                    yield self.on_batch(batch)[: batch.batch_size], target[seeds]


class DataParallel(MiniBatch):
    r""":class:`MiniBatch` over the ranks of the default process group, called on every rank with
    the same graph and arguments.

    ``batch_size`` counts the seeds of a step over *all* ranks: each rank draws
    ``ceil(batch_size / world_size)`` from its shard of a per-epoch permutation
    (:func:`~neuncut_pyg.distributed.ShardedNeighborLoader`); the ranks' estimates are combined
    into the union batch's before the ratio is taken
    (:class:`~neuncut_pyg.distributed.StatisticsReducer`); DDP averages the gradients; and
    every choice between runs is rank 0's (:meth:`agree`).
    """

    def __init__(self, on_batch: torch.nn.Module, sampled: Data, memberships: Callable[[], Tensor],
                 settings: TrainSettings, *, num_neighbors: List[int], batch_size: int,
                 seed: Optional[int] = None) -> None:
        self.check(batch_size)
        self._seed = seed
        self._reducer = dist.StatisticsReducer(int(sampled.num_nodes))
        self._ddp: Optional[torch.nn.Module] = None
        super().__init__(on_batch, sampled, memberships, settings._replace(
            progress=settings.progress and dist.is_main_process()), num_neighbors=num_neighbors, batch_size=batch_size)

    @staticmethod
    def check(batch_size: Optional[int]) -> None:
        """Raises if data-parallel training cannot run: no process group, or no ``batch_size``."""
        if not dist.is_distributed():
            raise ValueError("distributed=True needs a torch.distributed process group: call "
                             "torch.distributed.init_process_group() first (torchrun sets its environment)")
        if batch_size is None:
            raise ValueError("distributed=True trains in mini-batches split across the ranks: give a batch_size "
                             "(the seed nodes per step over all ranks)")

    def _loader(self, num_neighbors: List[int], batch_size: int):
        world = dist.get_world_size()
        per_rank = max(1, min(math.ceil(batch_size / world), math.ceil(self.num_nodes / world)))
        return dist.ShardedNeighborLoader(self.sampled, num_neighbors=num_neighbors, batch_size=per_rank,
                                          seed=dist.shared_seed(self._seed))

    def _estimate(self, s: Tensor, batch: Data):
        return self._reducer.estimate(s, batch)

    def _train_module(self) -> torch.nn.Module:
        if self._ddp is None:
            self._ddp = dist.wrap_ddp(self.on_batch)  # DDP broadcasts rank 0's state when built
        else:
            dist.broadcast_module(self.on_batch)  # a new run starts from rank 0's re-initialized model
        return self._ddp

    def train_run(self, desc: str) -> TrainHistory:
        s = self.settings
        return train_mini_batch(self._train_module(), self.loader, self._estimate, reduce_statistics=self._reducer,
                                epochs=s.epochs, lr=s.lr, weight_decay=s.weight_decay, gamma=s.gamma,
                                progress=s.progress, desc=desc)

    def agree(self, value: float) -> float:
        return dist.broadcast_object(value)
