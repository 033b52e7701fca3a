r"""Loading benchmark graphs from a local data root, with clear errors when files are missing.

Every loader reads from one data root, chosen by :func:`resolve_root`, in the directory layout
of the PyG dataset class it wraps, so a root prepared by PyG (or by hand, on a machine without
network) works as is. Where the files are absent and there is network, PyG downloads them;
otherwise a :class:`DatasetNotFoundError` says which files to put where.
"""
from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import List, Optional, Union
from urllib.parse import urlsplit

from torch_geometric.data import Data
from torch_geometric.datasets import Planetoid

__all__ = [
    "DATA_ROOT_ENV",
    "DatasetNotFoundError",
    "resolve_root",
    "PLANETOID_NAMES",
    "planetoid_raw_file_names",
    "load_planetoid",
]

#: Environment variable naming the default data root.
DATA_ROOT_ENV: str = "NEUNCUT_DATA"

#: Lower-case name -> the name PyG's ``Planetoid`` uses (and its directory under ``<root>/Planetoid``).
PLANETOID_NAMES = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}

_PLANETOID_RAW_SUFFIXES = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")

# How long to wait for the download host to accept a connection before concluding there is no
# network. An offline machine that silently drops packets would otherwise stall in the download
# client for minutes.
_CONNECT_TIMEOUT_S = 5.0


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not in the data root and could not be downloaded."""


def resolve_root(root: Optional[Union[str, Path]] = None) -> Path:
    r"""The data root to load datasets from.

    In order of precedence: the explicit ``root``; the environment variable ``NEUNCUT_DATA``
    (when set and non-empty); ``Path("datasets")``, relative to the current directory. ``~`` is
    expanded. The directory need not exist yet.

    Args:
        root (str or pathlib.Path, optional): An explicit data root.

    Returns:
        pathlib.Path: The data root.
    """
    if root is None:
        root = os.environ.get(DATA_ROOT_ENV) or "datasets"
    if not isinstance(root, (str, Path)):
        raise TypeError(f"root must be a str or pathlib.Path, got {type(root).__name__}")
    return Path(root).expanduser()


def _planetoid_name(name: str) -> str:
    if not isinstance(name, str) or name.lower() not in PLANETOID_NAMES:
        raise ValueError(
            f"unknown Planetoid dataset {name!r}: expected one of {sorted(PLANETOID_NAMES)} (case-insensitive)"
        )
    return PLANETOID_NAMES[name.lower()]


def planetoid_raw_file_names(name: str) -> List[str]:
    """The 8 raw files of a Planetoid dataset, e.g. ``ind.cora.x`` ... ``ind.cora.test.index``."""
    stem = _planetoid_name(name).lower()
    return [f"ind.{stem}.{suffix}" for suffix in _PLANETOID_RAW_SUFFIXES]


def _not_found(name: str, raw_dir: Path, missing: List[str], reason: str) -> DatasetNotFoundError:
    files = "\n".join(f"  {file}" for file in missing)
    return DatasetNotFoundError(
        f"Planetoid dataset {name} not found: {len(missing)} raw file(s) missing from\n  {raw_dir.absolute()}\n"
        f"Place these files there:\n{files}\n"
        f"({reason}.) PyG's Planetoid downloads them automatically where there is network "
        f"(load_planetoid(..., download=True)); elsewhere copy them from a machine that has them, "
        f"or point the data root elsewhere with root=... or ${DATA_ROOT_ENV}."
    )


def _host_unreachable(url: str) -> Optional[str]:
    """Why a TCP connection to ``url``'s host fails within the timeout, or ``None`` if it succeeds."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=_CONNECT_TIMEOUT_S):
            return None
    except OSError as err:
        return f"cannot reach {parts.hostname}:{port}: {err}"


class _Rollback:
    """Remembers which directories and files exist, and removes whatever appears afterwards.

    PyG writes raw files while downloading and ``processed/`` while processing; after a
    failure either may be partial, and a later call would trust a partial file. Only what was
    created since the snapshot is removed; files the user placed are never touched.
    """

    def __init__(self, *dirs: Path) -> None:
        self._dirs = dirs
        self._before = {d: set(d.iterdir()) if d.is_dir() else None for d in dirs}
        # Ancestors that do not exist yet are created on the way; remember the outermost.
        self._new_ancestors = [p for d in dirs for p in (d, *d.parents) if not p.exists()]

    def __call__(self) -> None:
        for d in self._dirs:
            before = self._before[d]
            if before is None:
                shutil.rmtree(d, ignore_errors=True)
            elif d.is_dir():
                for path in set(d.iterdir()) - before:
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
        for path in sorted(set(self._new_ancestors), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def load_planetoid(name: str, root: Optional[Union[str, Path]] = None, *, download: bool = True) -> Data:
    r"""Loads Cora, CiteSeer or PubMed with PyG's ``Planetoid`` (public split).

    Files are read from ``<root>/Planetoid/<Name>/raw/ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}``
    (PyG's layout; ``<Name>`` is ``Cora``, ``CiteSeer`` or ``PubMed``) and processed once into
    ``<root>/Planetoid/<Name>/processed/``. When raw files are missing and ``download=True``,
    PyG downloads them, provided the download host answers within a few seconds.

    Args:
        name (str): ``"cora"``, ``"citeseer"`` or ``"pubmed"``, case-insensitive.
        root (str or pathlib.Path, optional): The data root; see :func:`resolve_root`.
        download (bool): Whether to try downloading missing raw files. (default: ``True``)

    Returns:
        torch_geometric.data.Data: The graph as PyG gives it: undirected ``edge_index``
        (both directions stored), features ``x``, classes ``y`` and the split masks.

    Raises:
        ValueError: for an unknown dataset name.
        DatasetNotFoundError: when raw files are missing and cannot be downloaded; the message
            names the directory and the files to put there. Nothing partial is left behind.
        RuntimeError: when the raw files are present but PyG cannot process them.
    """
    canonical = _planetoid_name(name)
    base = resolve_root(root) / "Planetoid"
    raw_dir = base / canonical / "raw"
    processed_dir = base / canonical / "processed"
    missing = [file for file in planetoid_raw_file_names(canonical) if not (raw_dir / file).is_file()]
    if missing:
        if not download:
            raise _not_found(canonical, raw_dir, missing, "not downloaded: download=False")
        unreachable = _host_unreachable(Planetoid.url)
        if unreachable is not None:
            raise _not_found(canonical, raw_dir, missing, f"download failed: {unreachable}")

    rollback = _Rollback(raw_dir, processed_dir)
    try:
        dataset = Planetoid(root=str(base), name=canonical)
    except BaseException as err:
        rollback()
        if not isinstance(err, Exception):
            raise  # KeyboardInterrupt and the like, after cleaning up
        if missing:
            raise _not_found(canonical, raw_dir, missing, f"download or processing failed: {type(err).__name__}: {err}") from err
        raise RuntimeError(
            f"PyG could not process the Planetoid {canonical} raw files in {raw_dir} "
            f"({type(err).__name__}: {err}); they may be truncated or corrupted: replace them"
        ) from err
    return dataset[0]
