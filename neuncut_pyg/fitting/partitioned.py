r"""Partitioned training: one rank per partition of a graph that no rank holds whole
(:mod:`neuncut_pyg.partition`), on PyG's ``DistNeighborLoader``.

**Seeds.** Rank :math:`r` draws its seeds from its own partition :math:`P_r` only
(:math:`n_r = |P_r|` nodes). Partitions differ in size, and DDP needs every rank to take the
same number of steps, so every rank splits a fresh permutation of its nodes into the same
number of steps per epoch, :math:`T = \min(\lceil N / B\rceil, \min_r n_r)`: rank :math:`r`'s
batches hold :math:`b_r \approx n_r / T` seeds, proportional to its partition (sizes differing
by at most one within a rank), and an epoch visits every node exactly once. Padding the smaller
partitions by wrapping around instead would visit some nodes twice per epoch and weight them
double.

**Estimate.** A step is a stratified sample: stratum :math:`r` is :math:`P_r`, from which
:math:`b_r` seeds are drawn uniformly without replacement, so each node of :math:`P_r` is a seed
with probability :math:`b_r / n_r`. With :math:`\mathbf{T}_r` the unscaled sums of rank
:math:`r`'s seeds (:func:`~neuncut_pyg.sampling.cached_seed_statistics`) and
:math:`\mathbf{S}_r = \sum_{i \in P_r}\mathbf{t}_i` the partition's share of the full-graph
statistics, :math:`\mathbb{E}[\mathbf{T}_r] = \frac{b_r}{n_r}\mathbf{S}_r`, hence the
stratified estimator

.. math::
    \hat{\mathbf{S}} = \sum_r \frac{n_r}{b_r}\mathbf{T}_r, \qquad
    \mathbb{E}[\hat{\mathbf{S}}] = \sum_r \mathbf{S}_r = \mathbf{S}.

Each rank scales its sums to a full-graph estimate :math:`\hat{\mathbf{T}}_r =
\frac{N}{b_r}\mathbf{T}_r` (what a mini-batch does), and
:func:`~neuncut_pyg.distributed.average_statistics` with weights :math:`w_r = n_r` gives
:math:`\frac{\sum_r n_r \frac{N}{b_r}\mathbf{T}_r}{\sum_r n_r} = \sum_r \frac{n_r}{b_r}
\mathbf{T}_r = \hat{\mathbf{S}}`, since :math:`\sum_r n_r = N`. Weighting by seed counts
:math:`w_r = b_r` instead (data-parallel training's union batch,
:class:`~neuncut_pyg.fitting.strategies.DataParallel`) gives :math:`\frac{N}{B}\sum_r
\mathbf{T}_r`, which is biased unless every :math:`b_r / n_r` is the same: it would weight the
partition sampled more densely more. With :math:`b_r \propto n_r` the two agree. The gradient
argument of :mod:`neuncut_pyg.distributed` holds as it is: the all-reduce's backward and DDP's
average cancel.

**The cache.** Every rank keeps every node's memberships (:class:`~neuncut_pyg.sampling.
MembershipCache`, :math:`N \times k`): after each step the ranks' new seed memberships are
all-gathered into every cache, and a full refresh at the start of each run runs inference on
each partition and gathers. A seed's neighbourhood sum reads its own row of :math:`\mathbf{W}`,
which its partition holds (PyG stores a partition's edges by destination).

**Start.** ``init="spectral"`` needs the eigenvectors and k-means of the whole graph, so it is
computed at partition time (``partition_graph(..., num_clusters=k)``); every rank then reads
the start's labels and margins of all nodes and fits the network to it on its own seeds, the
gradients averaged by DDP, so the fit sees every partition. Without it runs start at random.
"""
from __future__ import annotations

import math
from typing import Iterator, List, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data

from neuncut_pyg import distributed as dist
from neuncut_pyg.fitting.loops import TrainHistory
from neuncut_pyg.fitting.strategies import DataParallel, TrainSettings, seeds_of
from neuncut_pyg.loss import NcutStatistics, ncut_loss_from_statistics
from neuncut_pyg.partition.local import LocalPartition
from neuncut_pyg.sampling import MembershipCache, cached_seed_statistics

__all__ = ["Partitioned", "partition_memberships", "steps_per_epoch"]


def steps_per_epoch(batch_size: int, sizes: List[int]) -> int:
    r""":math:`T = \min(\lceil N / B\rceil, \min_r n_r)`: the steps every rank takes per epoch,
    ``batch_size`` seeds over all ranks each, at least one seed per rank."""
    return max(1, min(math.ceil(sum(sizes) / batch_size), min(sizes)))


def partition_memberships(on_seeds: torch.nn.Module, local: LocalPartition, batch_size: int, hops: int) -> Tensor:
    """Every node's memberships ``[N, k]`` on every rank: each rank runs ``on_seeds`` on its
    own nodes, ``batch_size`` at a time with whole neighbourhoods over ``hops`` hops (exact
    full-graph outputs), and the ranks gather (collective; the caller sets the mode)."""
    local.inference_seeds.configure(steps=max(1, min(local.num_local, math.ceil(local.num_local / batch_size))),
                                    shuffle=False)
    parts = [on_seeds(batch) for batch in local.loader("inference", [-1] * hops)]
    return local.gather(torch.cat(parts))


class Partitioned(DataParallel):
    r"""Mini-batches drawn by each rank from its own partition (see the module docs), called on
    every rank of the default process group, one rank per partition.

    Args:
        on_seeds (torch.nn.Module): ``batch -> S`` of the batch's seeds, with gradients.
        local (LocalPartition): This rank's partition, RPC started.
        settings (TrainSettings): The run's optimizer settings.
        batch_size (int): Seeds per step over all ranks (also the inference batch per rank).
        num_neighbors (List[int]): The training fan-out per message-passing layer.
        hops (int): The encoder's message-passing layers (inference reads them whole).
        seed (int): Seeds the ranks' seed orders (the same on every rank).
    """

    def __init__(self, on_seeds: torch.nn.Module, local: LocalPartition, settings: TrainSettings, *,
                 batch_size: int, num_neighbors: List[int], hops: int, seed: int) -> None:
        self.local = local
        self.batch_size, self.hops, self.seed = int(batch_size), int(hops), int(seed)
        self.steps = steps_per_epoch(batch_size, local.sizes)
        self._configure_training()
        cache = MembershipCache(local.adjacency, local.deg, rows=local.rows)
        super().__init__(on_seeds, local.loader("train", num_neighbors), cache,
                         lambda: partition_memberships(self.on_seeds, self.local, self.batch_size, self.hops),
                         settings, num_nodes=local.num_nodes)

    def _configure_training(self) -> None:
        self.local.train_seeds.configure(steps=self.steps, shuffle=True, seed=self.seed)

    def _statistics(self, s: Tensor, batch: Data) -> NcutStatistics:
        seeds = seeds_of(batch)
        stats = self.cache.statistics(s, seeds, self.num_nodes / seeds.numel())
        sizes = dist.all_gather_rows(torch.tensor([seeds.numel()])).tolist()
        self.cache.values[dist.all_gather_rows(seeds, sizes=sizes)] = dist.all_gather_rows(
            s.detach().to(self.cache.values.dtype), sizes=sizes)
        # Weights n_r: the stratified estimate (module docs), not the union batch's.
        return dist.average_statistics(stats, self.local.num_local)

    def train_run(self, desc: str) -> TrainHistory:
        self._configure_training()
        return super().train_run(desc)

    def objective(self, memberships: Tensor, gamma: float) -> float:
        """The full-graph loss, each rank summing its own nodes' terms (its rows of
        :math:`\\mathbf{W}`) before the ratio."""
        local = self.local
        stats = cached_seed_statistics(memberships[local.node_ids], local.deg, local.adjacency.matmul(memberships))
        return float(ncut_loss_from_statistics(dist.all_reduce_statistics(stats), gamma).loss)

    def distill_batches(self, target: Tensor) -> Iterator[Tuple[Tensor, Tensor]]:
        """Batches of each rank's nodes that the start labels (``target >= 0``), through DDP so
        that the fit to the start averages over every partition; the ranks take equally many."""
        module = self._train_module()  # rank 0's (re-initialized) parameters on every rank
        labelled = (target[self.local.node_ids] >= 0).nonzero().view(-1)
        fewest = int(dist.all_gather_rows(torch.tensor([labelled.numel()])).min())
        if fewest == 0:
            raise ValueError("a rank's partition holds no node of the start's core: fit with fewer runs (n_init) "
                             "or init='random'")
        self.local.train_seeds.configure(steps=min(self.steps, fewest), shuffle=True, pool=labelled, seed=self.seed)
        while True:
            for batch in self.batches:
                yield module(batch), target[seeds_of(batch)]
