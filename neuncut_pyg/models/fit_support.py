r"""What :meth:`NeuNcut.fit <neuncut_pyg.models.NeuNcut.fit>` and
:meth:`~neuncut_pyg.models.NeuNcut.fit_partitioned` share: the settings of a fit per mode, the
resolution of its start, seeding, and the model as a mini-batch loop calls it."""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch
from torch import Tensor
from torch_geometric.data import Data

from neuncut_pyg._validation import check_choice, check_int
from neuncut_pyg.models.encoders import EncoderInput

__all__ = ["INIT_MODES", "FULL_BATCH_DEFAULTS", "MINI_BATCH_DEFAULTS", "OnSeeds", "OnRows", "run_settings",
           "resolve_init", "seeded", "evaluation"]

#: Starts of ``fit(init=...)``; ``"auto"`` resolves to one of the others.
INIT_MODES = ("auto", "random", "spectral", "graph")
#: ``fit``'s settings when not given, per mode: full batch (``batch_size=None``: every step sees
#: the whole graph) and mini-batches (one step per batch; an epoch visits every node once).
#: ``docs/defaults.md`` gives the measurements behind each.
FULL_BATCH_DEFAULTS = {"epochs": 300, "lr": 1e-3, "n_init": 3}
MINI_BATCH_DEFAULTS = {"epochs": 3, "lr": 1e-2, "n_init": 1}


class OnSeeds(torch.nn.Module):
    """``model`` as a mini-batch loop calls it: a ``NeighborLoader`` batch -> ``S`` of its seeds."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Data) -> Tensor:
        return self.model._logits(self.model.encoder.batch_input(batch), batch.batch_size).softmax(dim=-1)


class OnRows(torch.nn.Module):
    """``model`` for an encoder that maps rows independently: seed ids -> ``S`` of those rows."""

    def __init__(self, model: torch.nn.Module, features: Tensor) -> None:
        super().__init__()
        self.model = model
        self.features = features

    def forward(self, seeds: Tensor) -> Tensor:
        return self.model._logits(EncoderInput(self.features[seeds])).softmax(dim=-1)


def run_settings(defaults: dict, epochs: Optional[int], lr: Optional[float], n_init: Optional[int],
                  warm_start: bool) -> tuple:
    """``(epochs, lr, n_init)`` of a fit, the mode's ``defaults`` filling what is not given."""
    epochs, lr = defaults["epochs"] if epochs is None else epochs, defaults["lr"] if lr is None else lr
    n_init = check_int(defaults["n_init"] if n_init is None else n_init, "n_init")
    if warm_start and n_init > 1:
        raise ValueError("warm_start=True continues one run: it needs n_init=1")
    return epochs, lr, n_init


def resolve_init(init: str, *, warm_start: bool) -> str:
    """``"random"`` or ``"spectral"``: the start ``fit(init=init)`` uses."""
    check_choice(init, "init", INIT_MODES)
    if init == "auto":
        return "random" if warm_start else "spectral"
    if init in ("spectral", "graph") and warm_start:
        raise ValueError(f"init={init!r} re-initializes the network, warm_start=True continues it: "
                         "choose one (init='random' with warm_start=True)")
    return init


@contextlib.contextmanager
def seeded(seed: Optional[int], device: torch.device) -> Iterator[None]:
    """Seeds torch's RNG inside the block (when ``seed`` is given) and restores it after."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def evaluation(model: torch.nn.Module) -> Iterator[None]:
    """Evaluation mode inside the block, the previous mode after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
