r"""The training loops: gradient steps on the relaxed normalized cut, and the cross-entropy fit
of a network to a start partition.

- :func:`train_full_batch`: one Adam step per epoch on the whole graph;
- :func:`train_mini_batch`: one Adam step per batch, each batch's seed nodes giving an unbiased
  estimate of the full graph's statistics (:mod:`neuncut_pyg.sampling`), of which the ratio is
  taken (:func:`~neuncut_pyg.loss.ncut_loss_from_statistics`);
- :func:`train_to_partition`: the cross-entropy steps that fit a network to the method's start.

The loops hold no model logic: they call what they are given, score it and step the optimizer.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import torch
from torch import Tensor
from torch_sparse import SparseTensor
from tqdm.auto import tqdm

from neuncut_pyg._validation import check_int, check_real
from neuncut_pyg.adjacency import is_sparse_tensor
from neuncut_pyg.loss import DEFAULT_GAMMA, NcutLossOutput, NcutStatistics, ncut_loss_from_statistics, relaxed_ncut_loss

__all__ = ["TrainHistory", "train_full_batch", "train_mini_batch", "train_to_partition"]


@dataclass
class TrainHistory:
    r"""Per-epoch values of the training objective, taken in training mode (dropout active)
    before the epoch's optimizer step; for mini-batches, the mean over the epoch's batches.

    Attributes:
        loss (List[float]): :math:`\mathcal{L} = \mathcal{L}_{\mathrm{cut}} +
            \frac{\gamma}{2}\mathcal{L}_{\mathrm{orth}}`.
        cut (List[float]): the relaxed normalized cut :math:`\mathcal{L}_{\mathrm{cut}}`.
        orth (List[float]): the orthogonality penalty :math:`\mathcal{L}_{\mathrm{orth}}`.
        seconds (List[float]): wall time of each epoch.
    """

    loss: List[float] = field(default_factory=list)
    cut: List[float] = field(default_factory=list)
    orth: List[float] = field(default_factory=list)
    seconds: List[float] = field(default_factory=list)

    def append(self, loss: float, cut: float, orth: float, seconds: float) -> None:
        """Records one epoch."""
        for values, value in ((self.loss, loss), (self.cut, cut), (self.orth, orth), (self.seconds, seconds)):
            values.append(float(value))

    def as_dict(self) -> Dict[str, List[float]]:
        """The history as ``{'loss': [...], 'cut': [...], 'orth': [...], 'seconds': [...]}``."""
        return {"loss": list(self.loss), "cut": list(self.cut), "orth": list(self.orth),
                "seconds": list(self.seconds)}

    def __len__(self) -> int:
        return len(self.loss)


def _check_loop_settings(epochs: int, lr: float, weight_decay: float, gamma: float) -> None:
    check_int(epochs, "epochs")
    check_real(lr, "lr", minimum=0.0, strict=True)
    check_real(weight_decay, "weight_decay", minimum=0.0)
    check_real(gamma, "gamma", minimum=0.0)


def _finite(out: NcutLossOutput, epoch: int) -> NcutLossOutput:
    if not bool(torch.isfinite(out.loss)):
        raise ValueError(f"the loss became {float(out.loss)} at epoch {epoch}: training diverged; lower lr")
    return out


def train_full_batch(
    model: torch.nn.Module,
    memberships: Callable[[], Tensor],
    adj: SparseTensor,
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 0.0,
    gamma: float = DEFAULT_GAMMA,
    optimizer: Optional[torch.optim.Optimizer] = None,
    progress: bool = True,
    desc: str = "NeuNcut",
) -> TrainHistory:
    r"""Minimises the relaxed normalized cut with full-batch Adam steps: each epoch computes
    :math:`\mathbf{S}` = ``memberships()`` on the whole graph, the loss
    :func:`~neuncut_pyg.loss.relaxed_ncut_loss` on ``adj`` and one optimizer step.

    Args:
        model (torch.nn.Module): Owns the parameters to train; put in training mode.
        memberships (Callable): ``() -> S`` ``[N, k]`` with gradients, from ``model``.
        adj (SparseTensor): The affinity :math:`\mathbf{W}`, from
            :func:`~neuncut_pyg.adjacency.to_sparse_adjacency` (its layouts are reused at
            every step).
        epochs (int): Number of steps, ``>= 1``.
        lr (float): Adam learning rate, ``> 0``.
        weight_decay (float): Adam weight decay, ``>= 0``. (default: ``0.0``)
        gamma (float): Orthogonality weight :math:`\gamma`. (default: ``80.0``)
        optimizer (torch.optim.Optimizer, optional): Use this optimizer instead of a new Adam.
        progress (bool): Show a tqdm progress bar. (default: ``True``)
        desc (str): Label of the progress bar.

    Returns:
        :class:`TrainHistory` with ``epochs`` entries.

    Raises:
        ValueError: on out-of-range settings or a non-finite loss (diverged training).
    """
    _check_loop_settings(epochs, lr, weight_decay, gamma)
    if not is_sparse_tensor(adj):
        raise TypeError(f"adj must be a torch_sparse.SparseTensor (see to_sparse_adjacency), got {type(adj).__name__}")
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = TrainHistory()
    model.train()
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    for epoch in bar:
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        out = _finite(relaxed_ncut_loss(memberships(), adj, gamma=gamma), epoch)
        out.loss.backward()
        optimizer.step()
        history.append(out.loss.detach(), out.cut.detach(), out.orth.detach(), time.perf_counter() - start)
        if progress and (epoch % 10 == 0 or epoch == epochs - 1):
            bar.set_postfix(loss=f"{history.loss[-1]:.4f}", cut=f"{history.cut[-1]:.4f}",
                            orth=f"{history.orth[-1]:.4f}", refresh=False)
    bar.close()
    return history


def train_mini_batch(
    model: torch.nn.Module,
    loader: Iterable,
    batch_statistics: Callable[[Tensor, object], NcutStatistics],
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 0.0,
    gamma: float = DEFAULT_GAMMA,
    reduce_statistics: Optional[Callable[[NcutStatistics], NcutStatistics]] = None,
    optimizer: Optional[torch.optim.Optimizer] = None,
    progress: bool = True,
    desc: str = "NeuNcut",
) -> TrainHistory:
    r"""Minimises the relaxed normalized cut with one optimizer step per mini-batch.

    For each batch: :math:`\mathbf{S}_b` = ``model(batch)``, the batch's estimate of the full
    graph's statistics ``batch_statistics(S_b, batch)`` (e.g.
    :func:`~neuncut_pyg.sampling.batch_estimate`), optionally combined over the ranks of a
    process group by ``reduce_statistics``, then the ratio
    :func:`~neuncut_pyg.loss.ncut_loss_from_statistics` and one step. The ratio of each step's
    own estimate is taken: holding the volumes at running or per-epoch values instead lets a
    cluster drain between updates with nothing pushing back (``docs/exploration.md``).

    Args:
        model (torch.nn.Module): Maps a batch to the memberships ``[n_b, k]`` of its nodes.
        loader (Iterable): Yields the batches of an epoch (e.g. a ``NeighborLoader``).
        batch_statistics (Callable): ``(S_b, batch) -> NcutStatistics``.
        epochs (int): Passes over the loader, ``>= 1``.
        lr (float): Adam learning rate, ``> 0``.
        weight_decay (float): Adam weight decay, ``>= 0``. (default: ``0.0``)
        gamma (float): Orthogonality weight :math:`\gamma`. (default: ``80.0``)
        reduce_statistics (Callable, optional): Applied to each batch's estimate, e.g. the
            weighted mean over the ranks (:func:`~neuncut_pyg.distributed.average_statistics`).
        optimizer (torch.optim.Optimizer, optional): Use this optimizer instead of a new Adam.
        progress (bool): Show a tqdm progress bar over the batches. (default: ``True``)
        desc (str): Label of the progress bar.

    Returns:
        :class:`TrainHistory`: per epoch, the mean over its batches of ``loss``, ``cut``, ``orth``.

    Raises:
        ValueError: on out-of-range settings, an empty loader, or a non-finite loss.
    """
    _check_loop_settings(epochs, lr, weight_decay, gamma)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = TrainHistory()
    try:
        steps_per_epoch: Optional[int] = len(loader)  # type: ignore[arg-type]
    except TypeError:
        steps_per_epoch = None
    bar = tqdm(total=None if steps_per_epoch is None else epochs * steps_per_epoch, desc=desc,
               disable=not progress, leave=False, dynamic_ncols=True, unit="batch")
    model.train()
    for epoch in range(epochs):
        start = time.perf_counter()
        sums = torch.zeros(3, dtype=torch.float64)
        num_batches = 0
        for batch in loader:
            optimizer.zero_grad(set_to_none=True)
            stats = batch_statistics(model(batch), batch)
            if reduce_statistics is not None:
                stats = reduce_statistics(stats)
            out = _finite(ncut_loss_from_statistics(stats, gamma), epoch)
            out.loss.backward()
            optimizer.step()
            sums += torch.tensor([float(out.loss.detach()), float(out.cut.detach()), float(out.orth.detach())],
                                 dtype=torch.float64)
            num_batches += 1
            bar.update(1)
        if num_batches == 0:
            raise ValueError("the loader yielded no batches")
        mean = (sums / num_batches).tolist()
        history.append(*mean, time.perf_counter() - start)
        if progress:
            bar.set_postfix(epoch=epoch + 1, loss=f"{mean[0]:.4f}", cut=f"{mean[1]:.4f}", orth=f"{mean[2]:.4f}",
                            refresh=False)
    bar.close()
    return history


def train_to_partition(
    model: torch.nn.Module,
    batches: Iterator[Tuple[Tensor, Tensor]],
    *,
    steps: int,
    lr: float,
    weight_decay: float = 0.0,
) -> List[float]:
    r"""Fits a membership model to a given partition by cross-entropy: the start of
    ``NeuNcut.fit(init="spectral")``, which then minimizes the relaxed Ncut from there.

    Args:
        model (torch.nn.Module): Its parameters are trained; it is put in training mode.
        batches (Iterator[Tuple[Tensor, Tensor]]): Yields ``(s, target)`` per step: memberships
            ``[B, k]`` computed by ``model`` (with gradients) and the partition's labels ``[B]``;
            a negative label leaves its node out of the loss (the nodes outside the core,
            :func:`~neuncut_pyg.start.partition_core`).
        steps (int): Adam steps, ``>= 1``.
        lr (float): Adam learning rate, ``> 0``.
        weight_decay (float): Adam weight decay, ``>= 0``. (default: ``0.0``)

    Returns:
        List[float]: The cross-entropy of each step.

    Raises:
        ValueError: if a batch has no node with a label ``>= 0``.
    """
    _check_loop_settings(steps, lr, weight_decay, 0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        s, target = next(batches)
        labelled = target >= 0
        if not bool(labelled.any()):
            raise ValueError("a batch of train_to_partition has no node with a label >= 0")
        loss = torch.nn.functional.nll_loss(torch.log(s[labelled].clamp_min(torch.finfo(s.dtype).tiny)),
                                            target[labelled])
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses
