r"""Training loops that minimise the relaxed normalized cut of a membership model.

Two loops share :func:`~neuncut_pyg.loss.ncut_loss_from_statistics`: :func:`train_full_batch`
(the whole graph at every step) and :func:`train_mini_batch` (``NeighborLoader`` batches whose
seed nodes give unbiased estimates of the full graph's statistics, see
:mod:`neuncut_pyg.sampling`, combined across batches by a :class:`StatisticsTracker`).

A *membership model* is any ``torch.nn.Module`` called as ``model(x, edge_index)`` that returns
soft memberships :math:`\mathbf{S} \in [0, 1]^{N \times k}` (rows sum to one), e.g.
:class:`~neuncut_pyg.models.NeuNcut`. The loops here only feed it, score it with
:func:`~neuncut_pyg.loss.relaxed_ncut_loss` and step the optimizer; they hold no model logic.

:func:`train_full_batch` feeds the whole graph at every step. It expects the affinity as a
``torch_sparse.SparseTensor`` built once by :func:`to_sparse_adjacency`, so that the CSR layout
and its transpose (for the backward pass) are computed once per fit, not once per epoch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import torch
from torch import Tensor
from torch_sparse import SparseTensor

from neuncut_pyg.adjacency import Adj, as_coo, is_sparse_tensor
from neuncut_pyg.loss import (
    DEFAULT_GAMMA,
    NcutLossOutput,
    NcutStatistics,
    ncut_loss_from_statistics,
    relaxed_ncut_loss,
    validate_gamma,
)

__all__ = [
    "TrainHistory",
    "to_sparse_adjacency",
    "train_full_batch",
    "StatisticsTracker",
    "STATISTICS_MODES",
    "train_mini_batch",
    "train_to_partition",
]

#: How mini-batch training forms the statistics whose ratios make the loss (see StatisticsTracker).
STATISTICS_MODES = ("batch", "running", "full")


@dataclass
class TrainHistory:
    r"""Per-epoch values of the training objective, as recorded during training.

    Attributes:
        loss (List[float]): :math:`\mathcal{L} = \mathcal{L}_{\mathrm{cut}} +
            \frac{\gamma}{2}\mathcal{L}_{\mathrm{orth}}` after each epoch's forward pass.
        cut (List[float]): the relaxed normalized cut :math:`\mathcal{L}_{\mathrm{cut}}`.
        orth (List[float]): the orthogonality penalty :math:`\mathcal{L}_{\mathrm{orth}}`.

    Values are taken in training mode (dropout active), before the epoch's optimizer step.
    """

    loss: List[float] = field(default_factory=list)
    cut: List[float] = field(default_factory=list)
    orth: List[float] = field(default_factory=list)

    def append(self, out: NcutLossOutput) -> None:
        """Records one epoch's ``(loss, cut, orth)``."""
        self.loss.append(float(out.loss.detach()))
        self.cut.append(float(out.cut.detach()))
        self.orth.append(float(out.orth.detach()))

    def as_dict(self) -> Dict[str, List[float]]:
        """The history as ``{'loss': [...], 'cut': [...], 'orth': [...]}``."""
        return {"loss": list(self.loss), "cut": list(self.cut), "orth": list(self.orth)}

    def __len__(self) -> int:
        return len(self.loss)


def to_sparse_adjacency(
    edge_index: Adj,
    edge_weight: Optional[Tensor] = None,
    *,
    num_nodes: int,
) -> SparseTensor:
    r"""Builds the checked ``[N, N]`` affinity :math:`\mathbf{W}` as a ``torch_sparse.SparseTensor``.

    Every ``Adj`` form is accepted (index tensor with optional weights, ``SparseTensor``, torch
    sparse tensor) and checked by :func:`~neuncut_pyg.adjacency.as_coo`. The result stores
    ``W[i, j]`` at ``(row=i, col=j)``; its CSR layout and its CSC permutation (which the
    symmetry check of :func:`~neuncut_pyg.adjacency.symmetric_csr` and the backward pass of
    ``W @ S`` on directed graphs use) are built here, once.

    Raises:
        ValueError: on a malformed shape, out-of-range index, or NaN/inf/negative weight.
    """
    if is_sparse_tensor(edge_index) and edge_weight is None:
        as_coo(edge_index, None, num_nodes=num_nodes)  # validate only
        adj = edge_index
    else:
        row, col, weight = as_coo(edge_index, edge_weight, num_nodes=num_nodes)
        # Unweighted graphs keep value=None: torch_sparse then skips the value gather.
        value = weight if edge_weight is not None or not _is_index(edge_index) else None
        adj = SparseTensor(row=row, col=col, value=value, sparse_sizes=(num_nodes, num_nodes))
    adj.storage.rowptr()
    adj.storage.csr2csc()
    return adj


def _is_index(edge_index: Adj) -> bool:
    return isinstance(edge_index, Tensor) and not edge_index.is_sparse and edge_index.layout == torch.strided


def train_full_batch(
    model: torch.nn.Module,
    x: Tensor,
    adj: SparseTensor,
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 0.0,
    gamma: float = DEFAULT_GAMMA,
    encoder_adj: Optional[Adj] = None,
    optimizer: Optional[torch.optim.Optimizer] = None,
    progress: bool = True,
    desc: str = "NeuNcut",
) -> TrainHistory:
    r"""Minimises the relaxed normalized cut with full-batch Adam steps.

    Each epoch computes :math:`\mathbf{S} = \mathrm{model}(\mathbf{X}, \cdot)` on the whole
    graph, the loss :math:`\mathcal{L}(\mathbf{S}; \mathbf{W})` of
    :func:`~neuncut_pyg.loss.relaxed_ncut_loss`, and one optimizer step.

    Args:
        model (torch.nn.Module): Maps ``(x, encoder_adj)`` to memberships ``[N, k]``.
        x (torch.Tensor): Node features ``[N, F]`` (dense, or sparse CSR where the model's
            first layer accepts it).
        adj (SparseTensor): The affinity :math:`\mathbf{W}` of the loss, ``[N, N]``, from
            :func:`to_sparse_adjacency`.
        epochs (int): Number of full-batch steps, ``>= 1``.
        lr (float): Adam learning rate, ``> 0``.
        weight_decay (float): Adam weight decay, ``>= 0``. (default: ``0.0``)
        gamma (float): Orthogonality weight :math:`\gamma`. (default: ``80.0``)
        encoder_adj (Adj, optional): What the model receives as its graph argument, when it
            differs from ``adj`` (e.g. the original ``edge_index`` for a custom encoder).
            (default: ``adj``)
        optimizer (torch.optim.Optimizer, optional): Use this optimizer instead of a new Adam
            (``lr`` and ``weight_decay`` are then ignored).
        progress (bool): Show a tqdm progress bar. (default: ``True``)
        desc (str): Label of the progress bar.

    Returns:
        :class:`TrainHistory` with ``epochs`` entries. The model is left in training mode.

    Raises:
        ValueError: on non-positive ``epochs``/``lr``, negative ``weight_decay``, a non-finite
            loss (diverged training), or anything :func:`relaxed_ncut_loss` rejects.
    """
    _check_loop_settings(epochs, lr, weight_decay, gamma)
    if not is_sparse_tensor(adj):
        raise TypeError(f"adj must be a torch_sparse.SparseTensor (see to_sparse_adjacency), got {type(adj).__name__}")

    from tqdm.auto import tqdm

    encoder_adj = adj if encoder_adj is None else encoder_adj
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = TrainHistory()
    model.train()
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    for epoch in bar:
        optimizer.zero_grad(set_to_none=True)
        s = model(x, encoder_adj)
        out = relaxed_ncut_loss(s, adj, gamma=gamma)
        if not bool(torch.isfinite(out.loss)):
            raise ValueError(
                f"the loss became {float(out.loss)} at epoch {epoch}: training diverged; lower lr"
            )
        out.loss.backward()
        optimizer.step()
        history.append(out)
        if progress and (epoch % 10 == 0 or epoch == epochs - 1):
            bar.set_postfix(loss=f"{history.loss[-1]:.4f}", cut=f"{history.cut[-1]:.4f}",
                            orth=f"{history.orth[-1]:.4f}", refresh=False)
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

    The relaxed Ncut is non-convex and a random start often ends in a worse local minimum than
    partitions that exist (on CiteSeer, relaxed Ncut 0.35 from random starts against 0.16 from a
    feature-spectral partition; ``benchmarks/explore_quality/NOTES.md``, experiments 8-10, which
    also found 30 steps at ``lr=1e-2`` as good as 100).

    Args:
        model (torch.nn.Module): Its parameters are trained; it is put in training mode.
        batches (Iterator[Tuple[Tensor, Tensor]]): Yields ``(s, target)`` per step: memberships
            ``[B, k]`` computed by ``model`` (with gradients) and the partition's labels ``[B]``;
            a negative label leaves its node out of the loss (the nodes outside the core that
            ``NeuNcut.fit`` fits, see :func:`~neuncut_pyg.baselines.partition_core`).
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


def _check_loop_settings(epochs: int, lr: float, weight_decay: float, gamma: float) -> None:
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not (isinstance(weight_decay, (int, float)) and math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
    validate_gamma(gamma)


class StatisticsTracker:
    r"""Forms the statistics of each mini-batch's loss from the batch's estimate.

    A batch gives an unbiased estimate :math:`\hat{\mathbf{T}}_b` of the full graph's sums
    :math:`\mathbf{T} = (\mathbf{s}_j^{\top}\mathbf{L}\mathbf{s}_j,\ \mathrm{vol}_j,\
    \mathbf{S}^{\top}\mathbf{D}\mathbf{S})` (:mod:`neuncut_pyg.sampling`). The loss is a ratio
    with the volumes below, and a ratio of noisy estimates is biased. The paper's "EM-like"
    solver suggests holding the volumes fixed in an E-step while the network takes gradient
    steps in the M-step. The three ``mode`` s:

    - ``"batch"``: the batch's own estimate, :math:`\mathcal{L}(\hat{\mathbf{T}}_b)`.
    - ``"running"``: the volumes' *value* is an exponential moving average
      :math:`\bar{v} \leftarrow \mu\bar{v} + (1-\mu)\hat{v}_b` over the batches so far, their
      *gradient* that of the current batch: :math:`\bar{v} + \hat{v}_b - \mathrm{sg}[\hat{v}_b]`
      (:math:`\mathrm{sg}`: stop-gradient).
    - ``"full"``: the volumes' value from an exact full-graph inference pass at the start of
      every epoch (the E-step: no gradient, evaluation mode), the gradient of the batch as above.

    Measured (``benchmarks/minibatch_statistics.py``: planted partition, 20,000 nodes, 20
    communities, mixing 0.5, ``encoder="mlp"``, 1,024 seeds per batch, 10 epochs, lr 1e-2):
    ``"batch"`` reached NMI 0.49 with all 20 clusters; ``"running"`` 0.05 (11 clusters left)
    and ``"full"`` 0.03 (6 left). Both expected gradients were checked equal to the full-batch
    gradient at a fixed model, so the failure is one of dynamics. Our reading: with held volumes,
    a cluster that drains during the steps between updates keeps its old volume in the ratios,
    so nothing pushes back until the held value catches up, by which time it is empty.
    ``"batch"`` is the default.

    Args:
        mode (str): ``"batch"``, ``"running"`` or ``"full"``. (default: ``"batch"``)
        momentum (float): :math:`\mu` of ``"running"``, in ``[0, 1)``. (default: ``0.9``)
    """

    def __init__(self, mode: str = "batch", momentum: float = 0.9) -> None:
        if mode not in STATISTICS_MODES:
            raise ValueError(f"statistics must be one of {list(STATISTICS_MODES)}, got {mode!r}")
        if not (isinstance(momentum, (int, float)) and 0.0 <= momentum < 1.0):
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.mode = mode
        self.momentum = float(momentum)
        self.value: Optional[Tensor] = None

    def reset(self, value: Optional[NcutStatistics] = None) -> None:
        """Forgets the held volumes, or sets them from full statistics (the E-step of ``"full"``)."""
        self.value = None if value is None else value.vol.detach()

    def __call__(self, batch_stats: NcutStatistics) -> NcutStatistics:
        """The statistics to take the ratio of, given this batch's (scaled) estimate."""
        if self.mode == "batch":
            return batch_stats
        current = batch_stats.vol.detach()
        if self.mode == "running":
            mu = self.momentum
            self.value = current if self.value is None else mu * self.value + (1 - mu) * current
        elif self.value is None:
            raise RuntimeError("statistics='full' needs the E-step's volumes: call reset(full_statistics) first")
        # The held value with the batch's gradient: v + b - sg(b).
        return NcutStatistics(batch_stats.cut_num, self.value + batch_stats.vol - current, batch_stats.gram)

    def __repr__(self) -> str:
        extra = f", momentum={self.momentum}" if self.mode == "running" else ""
        return f"{self.__class__.__name__}(mode={self.mode!r}{extra})"


def train_mini_batch(
    model: torch.nn.Module,
    loader: Iterable,
    batch_statistics: Callable[[Tensor, object], NcutStatistics],
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 0.0,
    gamma: float = DEFAULT_GAMMA,
    statistics: str = "batch",
    momentum: float = 0.9,
    full_statistics: Optional[Callable[[], NcutStatistics]] = None,
    reduce_statistics: Optional[Callable[[NcutStatistics], NcutStatistics]] = None,
    optimizer: Optional[torch.optim.Optimizer] = None,
    progress: bool = True,
    desc: str = "NeuNcut",
) -> TrainHistory:
    r"""Minimises the relaxed normalized cut with one optimizer step per mini-batch.

    For each batch: :math:`\mathbf{S}_b = \mathrm{model}(\mathrm{batch})`, the batch's unbiased
    estimate of the full graph's statistics ``batch_statistics(S_b, batch)`` (see
    :func:`~neuncut_pyg.sampling.estimate_ncut_statistics`), optionally summed over the ranks of a
    process group by ``reduce_statistics``, combined across batches by a
    :class:`StatisticsTracker`, the ratio :func:`~neuncut_pyg.loss.ncut_loss_from_statistics`,
    and one optimizer step.

    Args:
        model (torch.nn.Module): Maps a batch to the memberships ``[n_b, k]`` of its nodes.
        loader (Iterable): Yields the batches of an epoch (e.g. a ``NeighborLoader``).
        batch_statistics (Callable): ``(S_b, batch) -> NcutStatistics``, the batch's estimate of
            the full graph's sums.
        epochs (int): Passes over the loader, ``>= 1``.
        lr (float): Adam learning rate, ``> 0``.
        weight_decay (float): Adam weight decay, ``>= 0``. (default: ``0.0``)
        gamma (float): Orthogonality weight :math:`\gamma`. (default: ``80.0``)
        statistics (str): ``"batch"``, ``"running"`` or ``"full"`` (see
            :class:`StatisticsTracker`). (default: ``"batch"``)
        momentum (float): Moving-average momentum of ``"running"``. (default: ``0.9``)
        full_statistics (Callable, optional): ``() -> NcutStatistics`` of the whole graph, exact,
            without gradients: the E-step of ``"full"`` (required for it).
        reduce_statistics (Callable, optional): Applied to each batch's estimate before the
            tracker, e.g. a differentiable all-reduce over the ranks of a process group.
        optimizer (torch.optim.Optimizer, optional): Use this optimizer instead of a new Adam.
        progress (bool): Show a tqdm progress bar over the batches. (default: ``True``)
        desc (str): Label of the progress bar.

    Returns:
        :class:`TrainHistory`: per epoch, the mean over its batches of ``loss``, ``cut``, ``orth``.

    Raises:
        ValueError: on out-of-range settings, an empty loader, or a non-finite loss.
    """
    _check_loop_settings(epochs, lr, weight_decay, gamma)
    tracker = StatisticsTracker(statistics, momentum)
    if statistics == "full" and full_statistics is None:
        raise ValueError("statistics='full' needs full_statistics, the exact full-graph pass of the E-step")

    from tqdm.auto import tqdm

    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = TrainHistory()
    try:
        steps_per_epoch: Optional[int] = len(loader)  # type: ignore[arg-type]
    except TypeError:
        steps_per_epoch = None
    bar = tqdm(total=None if steps_per_epoch is None else epochs * steps_per_epoch, desc=desc,
               disable=not progress, leave=False, dynamic_ncols=True, unit="batch")
    for epoch in range(epochs):
        if statistics == "full":
            model.eval()
            with torch.no_grad():
                tracker.reset(full_statistics())
        model.train()
        sums = torch.zeros(3, dtype=torch.float64)
        num_batches = 0
        for batch in loader:
            optimizer.zero_grad(set_to_none=True)
            stats = batch_statistics(model(batch), batch)
            if reduce_statistics is not None:
                stats = reduce_statistics(stats)
            out = ncut_loss_from_statistics(tracker(stats), gamma)
            if not bool(torch.isfinite(out.loss)):
                raise ValueError(
                    f"the loss became {float(out.loss)} at epoch {epoch}: training diverged; lower lr"
                )
            out.loss.backward()
            optimizer.step()
            sums += torch.tensor([float(out.loss.detach()), float(out.cut.detach()), float(out.orth.detach())],
                                 dtype=torch.float64)
            num_batches += 1
            bar.update(1)
        if num_batches == 0:
            raise ValueError("the loader yielded no batches")
        mean = sums / num_batches
        history.loss.append(float(mean[0]))
        history.cut.append(float(mean[1]))
        history.orth.append(float(mean[2]))
        if progress:
            bar.set_postfix(epoch=epoch + 1, loss=f"{history.loss[-1]:.4f}", cut=f"{history.cut[-1]:.4f}",
                            orth=f"{history.orth[-1]:.4f}", refresh=False)
    bar.close()
    return history
