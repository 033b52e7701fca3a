r"""Training loops that minimise the relaxed normalized cut of a membership model.

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
from typing import Dict, List, Optional

import torch
from torch import Tensor
from torch_sparse import SparseTensor

from neuncut_pyg.adjacency import Adj, as_coo, is_sparse_tensor
from neuncut_pyg.loss import DEFAULT_GAMMA, NcutLossOutput, validate_gamma, relaxed_ncut_loss

__all__ = ["TrainHistory", "to_sparse_adjacency", "train_full_batch"]


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
    ``W[i, j]`` at ``(row=i, col=j)``; its CSR layout and the CSC layout used by the backward
    pass of ``W @ S`` are built here, once.

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
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not (isinstance(weight_decay, (int, float)) and math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
    validate_gamma(gamma)
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
