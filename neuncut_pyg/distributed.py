r"""Data-parallel training of NeuNcut over :mod:`torch.distributed`.

The relaxed normalized cut is a ratio of sums over nodes (:class:`~neuncut_pyg.loss.NcutStatistics`:
cut numerators, volumes, :math:`\mathbf{S}^{\top}\mathbf{D}\mathbf{S}`). With :math:`R` ranks, rank
:math:`r` draws its own seed nodes :math:`\mathcal{B}_r` and gets their unscaled sums
:math:`\mathbf{T}_r` (:func:`~neuncut_pyg.sampling.seed_ncut_statistics`), or the estimate
:math:`\hat{\mathbf{T}}_r = \frac{N}{|\mathcal{B}_r|}\mathbf{T}_r` of the full graph's sums
(:func:`~neuncut_pyg.sampling.batch_estimate`). The batch of the whole step is the union
:math:`\mathcal{B} = \bigcup_r \mathcal{B}_r`, whose estimate is

.. math::
    \hat{\mathbf{T}} = \frac{N}{|\mathcal{B}|}\sum_{r} \mathbf{T}_r
        = \frac{\sum_r |\mathcal{B}_r|\,\hat{\mathbf{T}}_r}{\sum_r |\mathcal{B}_r|},

a weighted mean of the ranks' estimates (:func:`average_statistics`). Every rank takes the
ratio :math:`\mathcal{L}(\hat{\mathbf{T}})` of the *same* reduced sums, so all ranks minimise one
objective, the one a single process would minimise on the union batch. Averaging the ranks'
losses instead, :math:`\frac{1}{R}\sum_r \mathcal{L}(\hat{\mathbf{T}}_r)`, would be a different
and noisier objective: the ratio of a sum is not the sum of the ratios.

**Gradients.** The reduction is an all-reduce (sum) whose backward pass all-reduces the incoming
gradient (:func:`all_reduce_sum`). Write :math:`\mathbf{y} = \sum_r \mathbf{x}_r` for the
reduced sums and :math:`\mathbf{g} = \partial\mathcal{L}/\partial\mathbf{y}`, the same on every rank
since the loss is. The backward all-reduce hands rank :math:`r` the gradient
:math:`\sum_{r'} \mathbf{g} = R\,\mathbf{g}` for its :math:`\mathbf{x}_r`, so its parameter
gradient is :math:`R\,\mathbf{g}^{\top}\partial\mathbf{x}_r/\partial\theta`.
:class:`~torch.nn.parallel.DistributedDataParallel` then *averages* the ranks' gradients:

.. math::
    \frac{1}{R}\sum_r R\,\mathbf{g}^{\top}\frac{\partial\mathbf{x}_r}{\partial\theta}
        = \mathbf{g}^{\top}\frac{\partial}{\partial\theta}\sum_r\mathbf{x}_r
        = \frac{\partial\mathcal{L}}{\partial\theta},

exactly the gradient of one process over the union batch (checked to 1e-5 by
``tests/test_distributed.py``). The factor :math:`R` of the backward all-reduce and the
:math:`1/R` of DDP's average cancel; summing the ranks' gradients instead of averaging them
would give :math:`R` times the gradient.

**Seeds.** :func:`shard_seeds` splits a permutation of the nodes, drawn from ``(seed, epoch)``
and so identical on every rank, into :math:`R` shards of equal length (padded by wrapping
around, as :class:`torch.utils.data.DistributedSampler` does); every rank then takes the same
number of steps per epoch, which DDP needs (a rank with one step more would wait forever in
the gradient all-reduce).

Outside a process group (or with one rank) every helper is the identity, so the same code runs
in one process.
"""
from __future__ import annotations

import math
import random
from typing import Any, Iterator, List, Optional, Union

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader

from neuncut_pyg._validation import check_int, check_real
from neuncut_pyg.loss import NcutStatistics
from neuncut_pyg.sampling import batch_estimate

__all__ = [
    "is_distributed",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "all_reduce_sum",
    "all_reduce_statistics",
    "all_gather_rows",
    "average_statistics",
    "StatisticsReducer",
    "shard_seeds",
    "ShardSampler",
    "ShardedNeighborLoader",
    "wrap_ddp",
    "shared_seed",
    "broadcast_object",
    "broadcast_module",
]


# ---------------------------------------------------------------------------------------------
# Rank and world
# ---------------------------------------------------------------------------------------------


def is_distributed() -> bool:
    """Whether a default process group is initialized (``torch.distributed.init_process_group``)."""
    return dist.is_available() and dist.is_initialized()


def get_rank(group: Optional[Any] = None) -> int:
    """This process's rank in ``group`` (the default group), ``0`` outside a process group."""
    return dist.get_rank(group) if is_distributed() else 0


def get_world_size(group: Optional[Any] = None) -> int:
    """Number of ranks in ``group`` (the default group), ``1`` outside a process group."""
    return dist.get_world_size(group) if is_distributed() else 1


def is_main_process() -> bool:
    """Whether this is rank 0 (or the only process): the one that prints and writes files."""
    return get_rank() == 0


# ---------------------------------------------------------------------------------------------
# Differentiable reductions
# ---------------------------------------------------------------------------------------------


class _AllReduceSum(torch.autograd.Function):
    # The same as torch.distributed.nn.functional.all_reduce (deprecated since torch 2.6 in
    # favour of functional collectives that carry no autograd formula), written out here so
    # that the backward rule this module's gradient argument rests on is visible.

    @staticmethod
    def forward(ctx, tensor: Tensor, group: Optional[Any]) -> Tensor:  # type: ignore[override]
        ctx.group = group
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, op=dist.ReduceOp.SUM, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        # d(sum_r x_r)/dx_r = I on every rank, but the loss downstream is computed on every
        # rank: rank r's x_r receives the gradient of all R copies of the loss, sum_r' g_r'.
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        return grad, None


def all_reduce_sum(tensor: Tensor, group: Optional[Any] = None) -> Tensor:
    r"""Differentiable :math:`\sum_r \mathbf{x}_r` over the ranks, the same on every rank.

    The backward pass all-reduces the gradient too: with a loss computed identically on every
    rank, rank :math:`r` gets :math:`R\,\partial\mathcal{L}/\partial\mathbf{y}`, which DDP's
    gradient average brings back to the single-process gradient (see the module docstring).
    Outside a process group it returns ``tensor`` unchanged.
    """
    if get_world_size(group) == 1:
        return tensor
    return _AllReduceSum.apply(tensor, group)


def all_gather_rows(tensor: Tensor, group: Optional[Any] = None) -> Tensor:
    """Every rank's ``tensor`` (equal shapes on all ranks), concatenated along the first
    dimension in rank order; no gradient. ``tensor`` itself outside a process group."""
    world = get_world_size(group)
    if world == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world)]
    dist.all_gather(parts, tensor.contiguous(), group=group)
    return torch.cat(parts)


def _pack(stats: NcutStatistics) -> Tensor:
    return torch.cat([stats.cut_num.reshape(-1), stats.vol.reshape(-1), stats.gram.reshape(-1)])


def _unpack(flat: Tensor, like: NcutStatistics) -> NcutStatistics:
    sizes = [t.numel() for t in like]
    parts = flat.split(sizes)
    return NcutStatistics(*(p.view_as(t) for p, t in zip(parts, like)))


def all_reduce_statistics(stats: NcutStatistics, group: Optional[Any] = None) -> NcutStatistics:
    r"""The sums of :class:`~neuncut_pyg.loss.NcutStatistics` over the ranks (one collective).

    For *unscaled* partial sums (each rank's :func:`~neuncut_pyg.sampling.seed_ncut_statistics`,
    or :func:`~neuncut_pyg.loss.ncut_statistics` of the nodes a rank owns), the result is the
    statistics of the union of the ranks' nodes. For scaled estimates use
    :func:`average_statistics`. Differentiable, see :func:`all_reduce_sum`.
    """
    if get_world_size(group) == 1:
        return stats
    return _unpack(all_reduce_sum(_pack(stats), group), stats)


def average_statistics(stats: NcutStatistics, weight: Union[float, int] = 1.0,
                       group: Optional[Any] = None) -> NcutStatistics:
    r"""The weighted mean :math:`\sum_r w_r\hat{\mathbf{T}}_r / \sum_r w_r` of the ranks'
    estimates, in one collective.

    With :math:`w_r = |\mathcal{B}_r|` (rank :math:`r`'s seed count) and
    :math:`\hat{\mathbf{T}}_r` from :func:`~neuncut_pyg.sampling.batch_estimate`, this is the
    estimate of the union batch, :math:`\frac{N}{|\mathcal{B}|}\sum_r \mathbf{T}_r`: what one
    process would compute on all the ranks' seeds at once. The weights carry no gradient.
    """
    check_real(weight, "weight", minimum=0.0, strict=True)
    if get_world_size(group) == 1:
        return stats
    flat = _pack(stats)
    w = flat.new_full((1,), float(weight))
    reduced = all_reduce_sum(torch.cat([flat * w, w]), group)
    total = reduced[-1].detach()
    return _unpack(reduced[:-1] / total, stats)


class StatisticsReducer:
    r"""The two hooks of :func:`~neuncut_pyg.fitting.loops.train_mini_batch` for a process group.

    :meth:`estimate` is its ``batch_statistics`` (the batch's
    :func:`~neuncut_pyg.sampling.batch_estimate`, remembering the batch's seed count) and the
    reducer itself its ``reduce_statistics``: the weighted mean of the ranks' estimates by seed
    count (:func:`average_statistics`), i.e. the estimate of the union of the ranks' batches.

    Example:
        >>> reducer = StatisticsReducer(num_nodes)
        >>> train_mini_batch(wrap_ddp(on_batch), loader, reducer.estimate,
        ...                  reduce_statistics=reducer, epochs=10, lr=1e-3)
    """

    def __init__(self, num_nodes: int, group: Optional[Any] = None) -> None:
        self.num_nodes = int(num_nodes)
        self.group = group
        self.weight: Optional[int] = None

    def estimate(self, s: Tensor, batch: Data) -> NcutStatistics:
        self.weight = int(batch.batch_size)
        return batch_estimate(s, batch, self.num_nodes)

    def __call__(self, stats: NcutStatistics) -> NcutStatistics:
        if self.weight is None:
            raise RuntimeError("StatisticsReducer: call estimate(s, batch) before reducing")
        return average_statistics(stats, self.weight, self.group)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_nodes={self.num_nodes}, world_size={get_world_size(self.group)})"


# ---------------------------------------------------------------------------------------------
# Seeds per rank
# ---------------------------------------------------------------------------------------------


def shard_seeds(num_nodes: int, *, rank: int, world_size: int, epoch: int = 0, seed: int = 0,
                shuffle: bool = True) -> Tensor:
    r"""Rank ``rank``'s seed nodes for epoch ``epoch``.

    A permutation of ``0 .. num_nodes - 1`` drawn from a generator seeded with
    ``seed`` and ``epoch`` (the same on every rank: no communication), padded by wrapping
    around to a multiple of ``world_size``, of which the rank takes every ``world_size``-th
    entry from position ``rank``. Every rank gets :math:`\lceil N / R\rceil` seeds; the shards
    are disjoint except for the :math:`< R` padding nodes, and together cover every node.

    Returns:
        torch.LongTensor ``[ceil(num_nodes / world_size)]``.
    """
    for name, value, low in (("num_nodes", num_nodes, 1), ("world_size", world_size, 1),
                             ("epoch", epoch, 0), ("seed", seed, 0)):
        check_int(value, name, minimum=low)
    if not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(f"rank must be an integer in 0..{world_size - 1}, got {rank!r}")
    if shuffle:
        generator = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2**63))
        order = torch.randperm(num_nodes, generator=generator)
    else:
        order = torch.arange(num_nodes)
    total = math.ceil(num_nodes / world_size) * world_size
    if total > num_nodes:
        order = torch.cat([order, order[: total - num_nodes]]) if total - num_nodes <= num_nodes \
            else order.repeat(math.ceil(total / num_nodes))[:total]
    return order[rank:total:world_size]


class ShardSampler(torch.utils.data.Sampler):
    """A sampler of node indices yielding :func:`shard_seeds` for the current epoch, advanced by
    :meth:`set_epoch` (or by every new iteration, with ``auto_epoch=True``)."""

    def __init__(self, num_nodes: int, *, rank: Optional[int] = None, world_size: Optional[int] = None,
                 seed: int = 0, shuffle: bool = True, auto_epoch: bool = True) -> None:
        self.num_nodes = int(num_nodes)
        self.world_size = get_world_size() if world_size is None else int(world_size)
        self.rank = get_rank() if rank is None else int(rank)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.auto_epoch = auto_epoch
        self.epoch = 0
        shard_seeds(self.num_nodes, rank=self.rank, world_size=self.world_size, seed=self.seed)  # checks

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        seeds = shard_seeds(self.num_nodes, rank=self.rank, world_size=self.world_size, epoch=self.epoch,
                            seed=self.seed, shuffle=self.shuffle)
        if self.auto_epoch:
            self.epoch += 1
        return iter(seeds.tolist())

    def __len__(self) -> int:
        return math.ceil(self.num_nodes / self.world_size)


def ShardedNeighborLoader(data: Data, *, num_neighbors: List[int], batch_size: int, seed: int = 0,
                          shuffle: bool = True, rank: Optional[int] = None, world_size: Optional[int] = None,
                          **kwargs: Any):
    r"""A :class:`~torch_geometric.loader.NeighborLoader` over this rank's :func:`shard_seeds`.

    ``batch_size`` is *per rank*; each epoch draws a new shard (the sampler advances its epoch at
    every pass), and every rank yields :math:`\lceil\lceil N/R\rceil / B\rceil` batches of the
    same sizes, so DDP's collectives line up.
    """
    sampler = ShardSampler(data.num_nodes, rank=rank, world_size=world_size, seed=seed, shuffle=shuffle)
    return NeighborLoader(data, num_neighbors=num_neighbors, batch_size=batch_size, sampler=sampler,
                          shuffle=False, **kwargs)


# ---------------------------------------------------------------------------------------------
# Models, seeds, objects
# ---------------------------------------------------------------------------------------------


def wrap_ddp(module: torch.nn.Module, **kwargs: Any) -> torch.nn.Module:
    """``module`` in :class:`~torch.nn.parallel.DistributedDataParallel` (which broadcasts rank
    0's parameters and buffers at once, then averages gradients), or ``module`` itself outside a
    process group. CUDA modules get ``device_ids`` of their parameters' device."""
    if get_world_size() == 1:
        return module
    param = next(module.parameters(), None)
    if param is not None and param.device.type == "cuda" and "device_ids" not in kwargs:
        kwargs["device_ids"] = [param.device]
    return DistributedDataParallel(module, **kwargs)


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (picklable objects), ``obj`` outside a process group."""
    if get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def shared_seed(seed: Optional[int] = None) -> int:
    """``seed``, or a random seed drawn on rank 0 and broadcast, so every rank agrees."""
    if seed is not None:
        return int(seed)
    return int(broadcast_object(random.SystemRandom().randrange(2**31) if is_main_process() else None))


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Overwrites ``module``'s parameters and buffers with rank ``src``'s, in place."""
    if get_world_size() == 1:
        return
    with torch.no_grad():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=src)
