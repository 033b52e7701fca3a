r"""Saving a trained :class:`~neuncut_pyg.models.NeuNcut` to a directory and loading it back.

A checkpoint directory holds

- ``checkpoint.pt``: a :func:`torch.save` dict with the format version, the package version,
  the keyword arguments that rebuild the model, its ``state_dict``, the user's ``config`` and
  the training graph's node ids. This is the file :func:`load_checkpoint` reads; it is loaded
  with ``weights_only=True`` (plain containers and tensors only, no pickled code).
- ``config.json``: the same metadata as readable JSON, for people and scripts.

Both are written atomically (:func:`~neuncut_pyg.io.atomic_path`). Only models with a
built-in encoder (``"gcn"``, ``"sage"``, ``"mlp"``) can be saved: a custom encoder module is
code, which a checkpoint does not hold. Checkpoints of format 2 (neuncut-pyg before the
encoders got their own modules) are read and upgraded (:func:`_upgrade_state_dict`).
"""
from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

import torch
import torch.distributed

from neuncut_pyg import distributed as dist
from neuncut_pyg._version import __version__
from neuncut_pyg.io import atomic_torch_save, atomic_write_text
from neuncut_pyg.models import NeuNcut
from neuncut_pyg.models.featureless import FeaturelessInput

__all__ = [
    "CHECKPOINT_FORMAT_VERSION",
    "CHECKPOINT_FILE",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "save_checkpoint_on_main",
]

#: Version of the checkpoint layout; bumped whenever the stored fields change meaning.
#: 2: ``encoder="mlp"`` models carry their fitted input depth and standardization as buffers
#: of the ``state_dict`` (version-1 MLPs read unstandardized features).
#: 3: the encoder's network is ``encoder.net``, the MLP's input scaling
#: ``encoder.input_scaling``; built-in encoder options are stored (``encoder_kwargs``).
#: 4: a model fitted without features carries its input (``featureless_input``: the settings of
#: :class:`~neuncut_pyg.models.featureless.FeaturelessInput`, whose fitted transform is in the
#: ``state_dict``); ``num_clusters`` is the fitted :math:`k` (``num_clusters="auto"`` resolved).
#: 5: the GCN and GraphSAGE encoders carry an input scaling too (``encoder.input_scaling``: the
#: propagated input of a mini-batch fit); earlier ones read the features as given.
CHECKPOINT_FORMAT_VERSION: int = 5
_READABLE_VERSIONS = (2, 3, 4, 5)

#: Name of the file that holds the weights inside a checkpoint directory.
CHECKPOINT_FILE: str = "checkpoint.pt"

_CONFIG_FILE = "config.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or was written in another format version."""


def _package_version() -> str:
    return __version__


def _model_kwargs(model: NeuNcut) -> Dict[str, Any]:
    """The constructor arguments that rebuild ``model``'s architecture."""
    if not isinstance(model, NeuNcut):
        raise TypeError(f"model must be a NeuNcut, got {type(model).__name__}")
    if not model.builtin_encoder:
        raise ValueError(
            f"cannot checkpoint a NeuNcut with a custom encoder ({model.encoder_name}): only the "
            "built-in 'gcn', 'sage' and 'mlp' encoders can be rebuilt from a checkpoint; save its "
            "state_dict with torch.save and rebuild the module yourself"
        )
    act = model.act
    if act is not None and not isinstance(act, torch.nn.Module):
        raise ValueError(f"cannot checkpoint the activation {act!r}: give NeuNcut's act by name (e.g. 'selu')")
    act_name = type(act).__name__.lower() if act is not None else None
    kwargs = {
        "in_channels": model.in_channels,
        "num_clusters": model.num_clusters if model.num_clusters_ is None else model.num_clusters_,
        "encoder": model.encoder_name,
        "hidden_channels": model.hidden_channels,
        "num_layers": model.num_layers,
        "dropout": model.dropout,
        "act": act_name,
        "gamma": model.gamma,
    }
    if model.num_clusters_ is None:
        kwargs.update(k_min=model.k_min, k_max=model.k_max)
    if model.encoder_name == "mlp":
        kwargs["propagation_steps"] = model.propagation_steps
    try:
        json.dumps(model.encoder_kwargs)
    except TypeError as err:
        raise ValueError(f"cannot checkpoint the encoder options {sorted(model.encoder_kwargs)}: give them as "
                         f"plain values (strings, numbers) so that they can be stored: {err}") from err
    kwargs.update(model.encoder_kwargs)
    return kwargs


def _upgrade_state_dict(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """A format-2 ``state_dict`` in format 3's names: the network moved from ``encoder.*`` to
    ``encoder.net.*``, the MLP's input buffers from ``_input_*`` to ``encoder.input_scaling.*``."""
    renamed = {"_input_steps": "encoder.input_scaling.steps", "_input_shift": "encoder.input_scaling.shift",
               "_input_scale": "encoder.input_scaling.scale"}
    upgraded = {}
    for key, value in state.items():
        if key in renamed:
            key = renamed[key]
        elif key.startswith("encoder."):
            key = "encoder.net." + key[len("encoder."):]
        upgraded[key] = value
    return upgraded


def save_checkpoint(
    directory: Union[str, os.PathLike], model: NeuNcut, config: Dict[str, Any], node_ids: Sequence[str]
) -> Path:
    r"""Saves ``model`` with its configuration and the node ids of its training graph.

    Args:
        directory (str or os.PathLike): The checkpoint directory; created if absent. Existing
            checkpoint files in it are replaced atomically.
        model (NeuNcut): A model with a built-in encoder.
        config (dict): JSON-serializable settings to keep with the model (training options,
            how node features were made, ...); returned as is by :func:`load_checkpoint`.
        node_ids (Sequence[str]): The training graph's node ids, in index order.

    Returns:
        pathlib.Path: The path of ``checkpoint.pt``.

    Raises:
        ValueError: if the model has a custom encoder or ``config`` is not JSON-serializable.
    """
    kwargs = _model_kwargs(model)
    featureless = model.featureless_input_
    metadata = {
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "package_version": _package_version(),
        "model_kwargs": kwargs,
        "featureless_input": None if featureless is None else {
            "dim": featureless.dim, "components": featureless.out_channels, "steps": featureless.steps,
            "seed": featureless.seed, "shrinkage": featureless.shrinkage},
        "config": config,
    }
    try:
        metadata_json = json.dumps({**metadata, "num_nodes": len(node_ids)}, indent=2, sort_keys=True)
    except TypeError as err:
        raise ValueError(f"config must be JSON-serializable: {err}") from err
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    payload = {**metadata, "state_dict": state, "node_ids": [str(node) for node in node_ids]}
    atomic_torch_save(payload, path / CHECKPOINT_FILE)
    atomic_write_text(path / _CONFIG_FILE, metadata_json + "\n")
    return path / CHECKPOINT_FILE


def load_checkpoint(directory: Union[str, os.PathLike]) -> Tuple[NeuNcut, Dict[str, Any], List[str]]:
    r"""Loads a checkpoint written by :func:`save_checkpoint`.

    Args:
        directory (str or os.PathLike): The checkpoint directory (or its ``checkpoint.pt``).

    Returns:
        ``(model, config, node_ids)``: the rebuilt model in evaluation mode, the ``config``
        dict that was saved, and the training graph's node ids.

    Raises:
        CheckpointError: if the checkpoint file is missing, unreadable or corrupt, was written
            in another format version, or its weights do not fit the stored architecture.
    """
    path = Path(directory)
    file = path if path.is_file() else path / CHECKPOINT_FILE
    if not file.is_file():
        raise CheckpointError(f"no checkpoint at {path}: {file} not found (write one with `neuncut fit --out DIR`)")
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(f"checkpoint {file} is corrupt or not a neuncut checkpoint: {err}".splitlines()[0]) from err
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(f"{file} is not a neuncut checkpoint (no format_version field)")
    version = payload["format_version"]
    if version not in _READABLE_VERSIONS:
        raise CheckpointError(
            f"checkpoint {file} has format version {version!r} (written by neuncut-pyg "
            f"{payload.get('package_version', '?')}), but this neuncut-pyg {_package_version()} reads "
            f"format versions {list(_READABLE_VERSIONS)}: retrain with `neuncut fit`"
        )
    missing = [key for key in ("model_kwargs", "state_dict", "config", "node_ids") if key not in payload]
    if missing:
        raise CheckpointError(f"checkpoint {file} is incomplete: missing {missing}")
    state = payload["state_dict"]
    if version == 2:
        state = _upgrade_state_dict(state)
    try:
        model = NeuNcut(**payload["model_kwargs"])
        if payload.get("featureless_input") is not None:
            # Inputs saved before the shrinkage setting were fitted with plain whitening.
            model.featureless_input_ = FeaturelessInput(**{"shrinkage": 0.0, **payload["featureless_input"]})
        if version < 5 and model.encoder_name != "mlp":  # GNNs then read x as given: the defaults
            state = {**model.encoder.input_scaling.state_dict(prefix="encoder.input_scaling."), **state}
        model.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"checkpoint {file} does not rebuild a NeuNcut: {err}".splitlines()[0]) from err
    model.eval()
    return model, payload["config"], list(payload["node_ids"])


def save_checkpoint_on_main(directory: Union[str, os.PathLike], model: NeuNcut, config: Dict[str, Any],
                            node_ids: Sequence[str]) -> Path:
    """:func:`save_checkpoint` on rank 0 only, then a barrier, so that no rank of a process group
    reads the directory before it is complete. Returns the path on every rank."""
    path = Path(directory) / CHECKPOINT_FILE
    if dist.is_main_process():
        path = save_checkpoint(directory, model, config, node_ids)
    if dist.is_distributed():
        torch.distributed.barrier()
    return path
