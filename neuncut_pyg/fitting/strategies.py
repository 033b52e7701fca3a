r"""How one run of ``NeuNcut.fit`` trains: a *fitting strategy* per mode, with one interface.

- :class:`FullBatch`: every step sees the whole graph;
- :class:`MiniBatch`: one step per batch of seed nodes; the encoder runs on the seeds (with
  their sampled neighbourhoods over a GNN's layers), and the loss reads each seed's whole
  neighbourhood from a :class:`~neuncut_pyg.sampling.MembershipCache`;
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
from typing import Callable, Iterable, Iterator, NamedTuple, Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_sparse import SparseTensor

from neuncut_pyg import distributed as dist
from neuncut_pyg.fitting.loops import TrainHistory, train_full_batch, train_mini_batch
from neuncut_pyg.loss import NcutStatistics, relaxed_ncut_loss
from neuncut_pyg.sampling import MembershipCache

__all__ = ["TrainSettings", "FittingStrategy", "FullBatch", "MiniBatch", "DataParallel", "SeedBatches", "seeds_of"]

# Nodes per cross-entropy step when a row-wise encoder is fitted to the start on a larger graph.
DISTILL_SAMPLE = 20_000


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

    def objective(self, memberships: Tensor, gamma: float) -> float:
        """The relaxed Ncut loss of every node's ``memberships`` ``[N, k]`` on the full graph:
        what the restart loop compares runs by."""
        raise NotImplementedError

    def agree(self, value: float) -> float:
        """The value every rank acts on (one process: ``value`` itself)."""
        return value

    def share_parameters(self, model: torch.nn.Module) -> None:
        """Gives every rank rank 0's parameters of ``model`` (one process: nothing to do)."""


def _sampled_rows(target: Tensor, sample: int) -> Iterator[Tensor]:
    """Endless random draws of ``sample`` nodes among those with ``target >= 0``: cross-entropy
    is a sum over nodes, so for an encoder that maps rows independently a sample per step fits
    the partition as well as every node."""
    labelled = (target >= 0).nonzero().view(-1)
    while True:
        yield labelled[torch.randint(0, labelled.numel(), (sample,), device=labelled.device)]


class FullBatch(FittingStrategy):
    """Every step computes the memberships of the whole graph.

    Args:
        model (torch.nn.Module): Owns the parameters.
        memberships (Callable): ``rows -> S`` of the given rows (``None``: every node), with
            gradients in training mode.
        adj (SparseTensor): The affinity of the loss.
        settings (TrainSettings): The run's optimizer settings.
        rowwise (bool): Whether the encoder maps rows independently; then the start is fitted
            on samples of :data:`DISTILL_SAMPLE` nodes on larger graphs.
    """

    def __init__(self, model: torch.nn.Module, memberships: Callable[[Optional[Tensor]], Tensor],
                 adj: SparseTensor, settings: TrainSettings, *, rowwise: bool = False) -> None:
        self.model = model
        self._memberships = memberships
        self.adj = adj
        self.settings = settings
        self.rowwise = rowwise

    def train_run(self, desc: str) -> TrainHistory:
        s = self.settings
        return train_full_batch(self.model, lambda: self._memberships(None), self.adj, epochs=s.epochs, lr=s.lr,
                                weight_decay=s.weight_decay, gamma=s.gamma, progress=s.progress, desc=desc)

    def memberships(self) -> Tensor:
        return self._memberships(None)

    def objective(self, memberships: Tensor, gamma: float) -> float:
        return float(relaxed_ncut_loss(memberships, self.adj, gamma=gamma).loss)

    def distill_batches(self, target: Tensor) -> Iterator[Tuple[Tensor, Tensor]]:
        if self.rowwise and target.numel() > DISTILL_SAMPLE:
            for rows in _sampled_rows(target, DISTILL_SAMPLE):
                yield self._memberships(rows), target[rows]
        else:
            while True:
                yield self._memberships(None), target


class SeedBatches:
    """Seed node ids in a new random order every epoch, ``batch_size`` at a time: the batches of
    an encoder that maps rows independently (no neighbourhood to sample). In a process group,
    each rank draws its shard of one permutation shared by all ranks
    (:func:`~neuncut_pyg.distributed.shard_seeds`)."""

    def __init__(self, num_nodes: int, batch_size: int, *, world_size: int = 1, rank: int = 0,
                 seed: Optional[int] = None) -> None:
        self.num_nodes, self.batch_size = num_nodes, batch_size
        self.world_size, self.rank, self.seed = world_size, rank, seed
        self.epoch = 0

    def __iter__(self) -> Iterator[Tensor]:
        if self.world_size == 1:
            order = torch.randperm(self.num_nodes)
        else:
            order = dist.shard_seeds(self.num_nodes, rank=self.rank, world_size=self.world_size, epoch=self.epoch,
                                     seed=self.seed)
        self.epoch += 1
        return iter(order.split(self.batch_size))

    def __len__(self) -> int:
        return math.ceil(math.ceil(self.num_nodes / self.world_size) / self.batch_size)


def seeds_of(batch: Union[Tensor, Data]) -> Tensor:
    """The seed node ids of a batch: a :class:`SeedBatches` batch, or a ``NeighborLoader`` one."""
    return batch if isinstance(batch, Tensor) else batch.n_id[: batch.batch_size]


class MiniBatch(FittingStrategy):
    """One step per batch of seed nodes (see the module docs).

    Args:
        on_seeds (torch.nn.Module): ``batch -> S`` of the batch's seed nodes, with gradients.
        batches (Iterable): The batches of an epoch: :class:`SeedBatches` for a row-wise encoder,
            a ``NeighborLoader`` over the encoder's hops otherwise.
        cache (MembershipCache): The neighbours' memberships and the estimator that reads them.
        memberships (Callable): ``() -> S`` of every node, in batches (no gradients).
        settings (TrainSettings): The run's optimizer settings.
        num_nodes (int): :math:`N`.
        rowwise (bool): Whether the encoder maps rows independently (the start is then fitted
            on random node samples rather than on the batches).
    """

    def __init__(self, on_seeds: torch.nn.Module, batches: Iterable, cache: MembershipCache,
                 memberships: Callable[[], Tensor], settings: TrainSettings, *, num_nodes: int,
                 rowwise: bool = False) -> None:
        self.on_seeds = on_seeds
        self.batches = batches
        self.cache = cache
        self._memberships = memberships
        self.settings = settings
        self.num_nodes = num_nodes
        self.rowwise = rowwise

    def _statistics(self, s: Tensor, batch: Union[Tensor, Data]) -> NcutStatistics:
        seeds = seeds_of(batch)
        return self.cache.statistics(s, seeds, self.num_nodes / seeds.numel())

    def _train_module(self) -> torch.nn.Module:
        return self.on_seeds

    def train_run(self, desc: str) -> TrainHistory:
        module = self._train_module()
        module.eval()
        with torch.no_grad():
            self.cache.reset(self.memberships())
        s = self.settings
        return train_mini_batch(module, self.batches, self._statistics, epochs=s.epochs, lr=s.lr,
                                weight_decay=s.weight_decay, gamma=s.gamma, progress=s.progress, desc=desc)

    def memberships(self) -> Tensor:
        return self._memberships()

    def objective(self, memberships: Tensor, gamma: float) -> float:
        return float(relaxed_ncut_loss(memberships, self.cache.adj, gamma=gamma).loss)

    def distill_batches(self, target: Tensor) -> Iterator[Tuple[Tensor, Tensor]]:
        if self.rowwise:
            for rows in _sampled_rows(target, min(DISTILL_SAMPLE, target.numel())):
                yield self.on_seeds(rows), target[rows]
        else:
            while True:
                for batch in self.batches:
                    seeds = seeds_of(batch)
                    if bool((target[seeds] >= 0).any()):  # else no seed is fitted
                        yield self.on_seeds(batch), target[seeds]


class DataParallel(MiniBatch):
    r""":class:`MiniBatch` over the ranks of the default process group, called on every rank with
    the same graph and arguments.

    ``batch_size`` counts the seeds of a step over *all* ranks: each rank draws
    ``ceil(batch_size / world_size)`` from its shard of a per-epoch permutation shared by the
    ranks; their estimates are combined into the union batch's before the ratio is taken
    (:func:`~neuncut_pyg.distributed.average_statistics`); every rank's cache receives every
    rank's new memberships; DDP averages the gradients; and every choice between runs is rank
    0's (:meth:`agree`).
    """

    def __init__(self, on_seeds: torch.nn.Module, batches: Iterable, cache: MembershipCache,
                 memberships: Callable[[], Tensor], settings: TrainSettings, *, num_nodes: int,
                 rowwise: bool = False) -> None:
        self.check(batch_size=None, need_batch_size=False)
        self._ddp: Optional[torch.nn.Module] = None
        super().__init__(on_seeds, batches, cache, memberships,
                         settings._replace(progress=settings.progress and dist.is_main_process()),
                         num_nodes=num_nodes, rowwise=rowwise)

    @staticmethod
    def check(batch_size: Optional[int], *, need_batch_size: bool = True) -> None:
        """Raises if data-parallel training cannot run: no process group, or no ``batch_size``."""
        if not dist.is_distributed():
            raise ValueError("distributed=True needs a torch.distributed process group: call "
                             "torch.distributed.init_process_group() first (torchrun sets its environment)")
        if need_batch_size and batch_size is None:
            raise ValueError("distributed=True trains in mini-batches split across the ranks: give a batch_size "
                             "(the seed nodes per step over all ranks)")

    @staticmethod
    def seeds_per_rank(batch_size: int, num_nodes: int) -> int:
        """The seeds each rank draws per step, so that a step's seeds over all ranks are
        ``batch_size``."""
        world = dist.get_world_size()
        return max(1, min(math.ceil(batch_size / world), math.ceil(num_nodes / world)))

    def _statistics(self, s: Tensor, batch: Union[Tensor, Data]) -> NcutStatistics:
        seeds = seeds_of(batch)
        stats = self.cache.statistics(s, seeds, self.num_nodes / seeds.numel())
        # Every rank's cache learns every rank's seeds (equal batch sizes: the shards are padded).
        self.cache.values[dist.all_gather_rows(seeds)] = dist.all_gather_rows(s.detach().to(self.cache.values.dtype))
        return dist.average_statistics(stats, seeds.numel())

    def _train_module(self) -> torch.nn.Module:
        if self._ddp is None:
            self._ddp = dist.wrap_ddp(self.on_seeds)  # DDP broadcasts rank 0's state when built
        else:
            dist.broadcast_module(self.on_seeds)  # a new run starts from rank 0's re-initialized model
        return self._ddp

    def agree(self, value: float) -> float:
        return dist.broadcast_object(value)

    def share_parameters(self, model: torch.nn.Module) -> None:
        dist.broadcast_module(model)
