r"""Loading benchmark graphs from a local data root, with clear errors when files are missing.

Every loader reads from one data root, chosen by :func:`resolve_root`, in the directory layout
of the dataset class it wraps (PyG's ``Planetoid``, OGB's ``PygNodePropPredDataset``), so a root
prepared by PyG or OGB (or by hand, on a machine without network) works as is. Where the files
are absent and there is network, PyG or OGB downloads them; otherwise a
:class:`DatasetNotFoundError` says which files to put where. :func:`load_dataset` picks the
loader by name.
"""
from __future__ import annotations

import csv
import functools
import importlib
import os
import shutil
import socket
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union
from urllib.parse import urlsplit

import numpy as np
import ogb
import ogb.nodeproppred.dataset_pyg as ogb_dataset_pyg
import ogb.utils.url as ogb_url
import torch
from ogb.nodeproppred.dataset_pyg import PygNodePropPredDataset
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
from torch_geometric.data.storage import GlobalStorage
from torch_geometric.datasets import Planetoid
from torch_geometric.utils import index_to_mask, to_undirected

__all__ = [
    "DATA_ROOT_ENV",
    "DatasetNotFoundError",
    "resolve_root",
    "PLANETOID_NAMES",
    "planetoid_raw_file_names",
    "load_planetoid",
    "ogb_node_names",
    "ogb_node_file_names",
    "load_ogb_node",
    "load_dataset",
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
        # None: the path did not exist, so all of it is new. A path that existed as a file (a
        # downloaded archive, say) has no entries to compare and is left alone.
        self._before = {d: (set(d.iterdir()) if d.is_dir() else set()) if d.exists() else None for d in dirs}
        # Ancestors that do not exist yet are created on the way; remember the outermost.
        self._new_ancestors = [p for d in dirs for p in (d, *d.parents) if not p.exists()]

    def __call__(self) -> None:
        for d in self._dirs:
            before = self._before[d]
            if before is None:
                if d.is_dir():
                    shutil.rmtree(d, ignore_errors=True)
                else:
                    d.unlink(missing_ok=True)
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


# ---------------------------------------------------------------------------------------------
# OGB node-property prediction datasets
# ---------------------------------------------------------------------------------------------

_OGB_SPLITS = {"train": "train_mask", "valid": "val_mask", "test": "test_mask"}


@functools.lru_cache(maxsize=1)
def _ogb_node_master() -> Dict[str, Dict[str, str]]:
    """OGB's own table of node-property datasets: dataset name -> {field: value}.

    ``ogb/nodeproppred/master.csv`` is what ``PygNodePropPredDataset`` validates names against
    and reads its settings from (one column per dataset, one row per field). Reading the file
    rather than importing ``ogb.nodeproppred`` keeps name validation free of that import.
    """
    path = Path(ogb.__file__).parent / "nodeproppred" / "master.csv"
    with open(path, newline="") as file:
        header, *rows = list(csv.reader(file))
    names = header[1:]
    return {name: {row[0]: row[1 + col] for row in rows} for col, name in enumerate(names)}


def _ogb_unsupported_reason(meta: Dict[str, str]) -> Optional[str]:
    """Why a dataset does not fit a single graph with one class per node, or ``None``."""
    if meta["is hetero"] == "True":
        return "it is heterogeneous (several node and edge types)"
    if int(meta["num tasks"]) != 1 or "multiclass" not in meta["task type"]:
        return f"its target is {meta['num tasks']} task(s) of {meta['task type']}, not one class per node"
    if meta["has_node_attr"] != "True":
        return "it has no node features"
    return None


def ogb_node_names() -> List[str]:
    """The OGB node-property datasets :func:`load_ogb_node` can load, as OGB spells them.

    These are the homogeneous, single-label multiclass datasets of ``ogb``'s ``master.csv``:
    ``ogbn-products``, ``ogbn-arxiv`` and ``ogbn-papers100M`` in ``ogb`` 1.3.6.
    """
    return [name for name, meta in _ogb_node_master().items() if _ogb_unsupported_reason(meta) is None]


def _ogb_node_meta(name: str) -> Tuple[str, Dict[str, str]]:
    """OGB's spelling of ``name`` (matched case-insensitively) and its ``master.csv`` column."""
    master = _ogb_node_master()
    by_lower = {known.lower(): known for known in master}
    if not isinstance(name, str) or name.lower() not in by_lower:
        raise ValueError(
            f"unknown OGB node-property dataset {name!r}: expected one of {ogb_node_names()} (case-insensitive)"
        )
    canonical = by_lower[name.lower()]
    reason = _ogb_unsupported_reason(master[canonical])
    if reason is not None:
        raise ValueError(
            f"OGB dataset {canonical} is not supported by load_ogb_node: {reason}; "
            f"supported: {ogb_node_names()}"
        )
    return canonical, master[canonical]


def ogb_node_file_names(name: str) -> List[str]:
    r"""The files an OGB node-property dataset needs, relative to its directory.

    The directory is ``<root>/<name with '-' replaced by '_'>``, e.g. ``<root>/ogbn_arxiv``: the
    top folder of OGB's download archive (``arxiv.zip`` holds ``arxiv/``), renamed. For
    ``ogbn-arxiv`` the files are

    .. code-block:: none

        raw/edge.csv.gz  raw/num-node-list.csv.gz  raw/num-edge-list.csv.gz
        raw/node-feat.csv.gz  raw/node-label.csv.gz  raw/node_year.csv.gz
        split/time/train.csv.gz  split/time/valid.csv.gz  split/time/test.csv.gz

    Binary datasets (``ogbn-papers100M``) keep the graph in ``raw/data.npz`` and the labels in
    ``raw/node-label.npz`` instead of the ``raw/*.csv.gz`` files. The archive's
    ``RELEASE_v<version>.txt`` is not listed: OGB asks interactively whether to re-download
    when it is missing, and :func:`load_ogb_node` answers no.

    Args:
        name (str): A name of :func:`ogb_node_names`, case-insensitive.

    Returns:
        List[str]: Paths relative to the dataset directory, with ``/`` separators.
    """
    _, meta = _ogb_node_meta(name)
    if meta["binary"] == "True":
        raw = ["data.npz", "node-label.npz"]
    else:
        # What ogb.io.read_graph_raw.read_csv_graph_raw and PygNodePropPredDataset.process read.
        raw = ["edge.csv.gz", "num-node-list.csv.gz", "num-edge-list.csv.gz"]
        if meta["has_node_attr"] == "True":
            raw.append("node-feat.csv.gz")
        if meta["has_edge_attr"] == "True":
            raw.append("edge-feat.csv.gz")
        raw.append("node-label.csv.gz")
        for field in ("additional node files", "additional edge files"):
            if meta[field] != "None":
                raw.extend(f"{extra}.csv.gz" for extra in meta[field].split(","))
    split = [f"split/{meta['split']}/{part}.csv.gz" for part in _OGB_SPLITS]
    return [f"raw/{file}" for file in raw] + split


def _ogb_dataset_dir(base: Path, canonical: str) -> Path:
    # The same choice as PygNodePropPredDataset: '-' -> '_', and a '<dir>_pyg' folder left by
    # old OGB versions takes precedence when it exists.
    dir_name = canonical.replace("-", "_")
    legacy = base / f"{dir_name}_pyg"
    return legacy if legacy.exists() else base / dir_name


def _ogb_missing_files(dataset_dir: Path, files: List[str], split_type: str) -> List[str]:
    missing = [file for file in files if not (dataset_dir / file).is_file()]
    if (dataset_dir / "split" / split_type / "split_dict.pt").is_file():
        # OGB's get_idx_split reads this cached split in place of the three csv files.
        missing = [file for file in missing if not file.startswith(f"split/{split_type}/")]
    return missing


def _ogb_not_found(
    canonical: str, meta: Dict[str, str], dataset_dir: Path, missing: List[str], reason: str
) -> DatasetNotFoundError:
    files = "\n".join(f"  {file}" for file in missing)
    npz_note = ""
    if meta["binary"] == "True":
        extra = [f for field in ("additional node files", "additional edge files") if meta[field] != "None"
                 for f in meta[field].split(",")]
        npz_note = (
            "raw/data.npz holds the arrays edge_index, num_nodes_list, num_edges_list, node_feat"
            + "".join(f", {f}" for f in extra) + "; raw/node-label.npz holds node_label.\n"
        )
    return DatasetNotFoundError(
        f"OGB dataset {canonical} not found: {len(missing)} file(s) missing from\n  {dataset_dir.absolute()}\n"
        f"Place these files there (paths relative to it):\n{files}\n{npz_note}"
        f"({reason}.) ogb downloads them automatically where there is network "
        f"(load_ogb_node(..., download=True)): it fetches {meta['url']}, extracts its folder "
        f"{meta['download_name']}/ and renames it to this directory. Elsewhere copy that folder (with its "
        f"RELEASE_v{meta['version']}.txt) from a machine that has it, or point the data root elsewhere "
        f"with root=... or ${DATA_ROOT_ENV}."
    )


@contextmanager
def _answer_ogb_prompts(download: bool) -> Iterator[None]:
    """Answers OGB's ``input()`` prompts so that loading never waits on a terminal.

    OGB asks (a) whether to delete and re-download a dataset directory without the current
    ``RELEASE_v*.txt`` and (b) whether to proceed with a download over 1 GB. (a) is answered no:
    deleting files a user placed is not a prompt's call. (b) is answered by ``download``: the
    caller already chose. The answers shadow the builtin in the two OGB modules only, and only
    for the duration of the call.
    """

    def always(reply: str) -> Callable[..., str]:
        def input(prompt: str = "") -> str:  # noqa: A001 (it stands in for the builtin)
            warnings.warn(f"ogb asked {prompt.strip()!r}: answered {reply!r} without waiting for input", stacklevel=2)
            return reply

        return input

    replies = {ogb_dataset_pyg: "n", ogb_url: "y" if download else "n"}
    saved = {module: module.__dict__.get("input") for module in replies}
    try:
        for module, reply in replies.items():
            module.input = always(reply)  # type: ignore[attr-defined]
        yield
    finally:
        for module, previous in saved.items():
            if previous is None:
                del module.input  # type: ignore[attr-defined]
            else:
                module.input = previous  # type: ignore[attr-defined]


def _ogb_unpickling_allowed() -> Any:
    """Lets ``torch.load(weights_only=True)`` read what OGB saved: a pickled PyG ``Data``.

    ``PygNodePropPredDataset`` saves its processed graph with ``torch.save`` and reads it back
    with a plain ``torch.load``, which since torch 2.6 refuses the classes inside: PyG's storage
    classes, and for binary datasets a NumPy integer as ``num_nodes``. Those are plain data
    containers, so allowing exactly them (and only while OGB loads) keeps the load safe.
    """
    safe_globals = getattr(torch.serialization, "safe_globals", None)
    if safe_globals is None:  # torch < 2.5: torch.load still unpickles anything by default
        return nullcontext()

    numpy_multiarray = importlib.import_module("numpy._core.multiarray" if hasattr(np, "_core") else "numpy.core.multiarray")
    numeric_dtype_classes = {type(np.dtype(code)) for code in np.typecodes["AllInteger"] + np.typecodes["AllFloat"]}
    needed = [Data, DataEdgeAttr, DataTensorAttr, GlobalStorage, numpy_multiarray.scalar, np.dtype, *numeric_dtype_classes]
    # On exit the context manager removes what it was given, so it must not be given what was
    # allowed before (PyG allows Data on import): that would stay disallowed for everyone after.
    already = set(map(id, torch.serialization.get_safe_globals()))
    return safe_globals([cls for cls in needed if id(cls) not in already])


def _ogb_labels(y: Tensor, num_nodes: int, canonical: str) -> Tensor:
    """OGB's ``[N, 1]`` labels as ``[N]`` int64; NaN (unlabelled, in papers100M) becomes -1."""
    if y.numel() != num_nodes:
        raise RuntimeError(f"OGB dataset {canonical}: {y.numel()} labels for {num_nodes} nodes; the label file is inconsistent")
    y = y.reshape(num_nodes)
    if y.is_floating_point():
        y = torch.where(torch.isnan(y), torch.full_like(y, -1), y)
    return y.to(torch.long)


def _ogb_split_mask(index: Tensor, num_nodes: int, canonical: str, part: str) -> Tensor:
    if index.numel() > 0 and (int(index.min()) < 0 or int(index.max()) >= num_nodes):
        raise RuntimeError(
            f"OGB dataset {canonical}: the {part} split holds node indices outside [0, {num_nodes}) "
            f"(min {int(index.min())}, max {int(index.max())}); the split files do not match the graph"
        )
    return index_to_mask(index, size=num_nodes)


def load_ogb_node(name: str, root: Optional[Union[str, Path]] = None, *, download: bool = True) -> Data:
    r"""Loads an OGB node-property dataset (``ogbn-arxiv``, ``ogbn-products``,
    ``ogbn-papers100M``) with OGB's ``PygNodePropPredDataset``, as one undirected graph.

    Files are read from ``<root>/<name with '-' replaced by '_'>/`` (OGB's layout; see
    :func:`ogb_node_file_names` for the exact list) and processed once into its
    ``processed/`` folder. When files are missing and ``download=True``, OGB downloads them,
    provided the download host answers within a few seconds. OGB's interactive prompts are
    answered without waiting for input (see :func:`ogb_node_file_names`), and a successful OGB
    download replaces the dataset directory as a whole.

    Args:
        name (str): A name of :func:`ogb_node_names`, case-insensitive.
        root (str or pathlib.Path, optional): The data root; see :func:`resolve_root`.
        download (bool): Whether to try downloading missing files. (default: ``True``)

    Returns:
        torch_geometric.data.Data: ``edge_index`` of shape ``[2, num_edges]``, symmetrized with
        :func:`~torch_geometric.utils.to_undirected` (``ogbn-arxiv`` is stored directed),
        coalesced and without duplicates; node features ``x`` of shape ``[num_nodes,
        num_features]``; classes ``y`` of shape ``[num_nodes]`` (int64; ``-1`` for the nodes
        OGB leaves unlabelled, as most of ``ogbn-papers100M``); ``num_nodes``; and OGB's split
        as boolean masks ``train_mask``, ``val_mask``, ``test_mask`` of shape ``[num_nodes]``.
        ``ogbn-papers100M`` (111M nodes, 1.6B edges) needs far more than 100 GB of memory.

    Raises:
        ValueError: for a name OGB does not know, or a dataset this loader does not handle
            (heterogeneous ``ogbn-mag``, multi-label ``ogbn-proteins``).
        DatasetNotFoundError: when files are missing and cannot be downloaded; the message names
            the directory and the files to put there. Nothing partial is left behind.
        RuntimeError: when the files are present but OGB cannot process them, or they disagree.
    """
    canonical, meta = _ogb_node_meta(name)
    base = resolve_root(root)
    dataset_dir = _ogb_dataset_dir(base, canonical)
    missing = _ogb_missing_files(dataset_dir, ogb_node_file_names(canonical), meta["split"])
    if missing:
        if not download:
            raise _ogb_not_found(canonical, meta, dataset_dir, missing, "not downloaded: download=False")
        unreachable = _host_unreachable(meta["url"])
        if unreachable is not None:
            raise _ogb_not_found(canonical, meta, dataset_dir, missing, f"download failed: {unreachable}")


    # OGB downloads the archive into <root>, extracts its folder there and moves it into place.
    archive = base / meta["url"].rpartition("/")[2]
    rollback = _Rollback(
        dataset_dir / "raw", dataset_dir / "processed", dataset_dir, base / meta["download_name"], archive
    )
    try:
        with _answer_ogb_prompts(download), _ogb_unpickling_allowed(), warnings.catch_warnings():
            # OGB wraps read-only label arrays and copies them at once: the warning is noise.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            dataset = PygNodePropPredDataset(canonical, root=str(base))
            split = dataset.get_idx_split()
        graph = dataset[0]
    except BaseException as err:
        rollback()
        # OGB calls exit() when a download is declined: a failure here, not the program's end.
        if not isinstance(err, (Exception, SystemExit)):
            raise  # KeyboardInterrupt and the like, after cleaning up
        if missing:
            raise _ogb_not_found(
                canonical, meta, dataset_dir, missing, f"download or processing failed: {type(err).__name__}: {err}"
            ) from err
        raise RuntimeError(
            f"OGB could not process the {canonical} files in {dataset_dir} ({type(err).__name__}: {err}); "
            f"they may be truncated or corrupted: replace them"
        ) from err

    num_nodes = int(graph.num_nodes)
    masks = {
        mask_name: _ogb_split_mask(split[part], num_nodes, canonical, part) for part, mask_name in _OGB_SPLITS.items()
    }
    return Data(
        x=graph.x,
        edge_index=to_undirected(graph.edge_index, num_nodes=num_nodes),
        y=_ogb_labels(graph.y, num_nodes, canonical),
        num_nodes=num_nodes,
        **masks,
    )


def load_dataset(name: str, root: Optional[Union[str, Path]] = None, **kwargs: Any) -> Data:
    r"""Loads a dataset by name: ``cora``, ``citeseer``, ``pubmed`` with :func:`load_planetoid`,
    ``ogbn-*`` with :func:`load_ogb_node`.

    Args:
        name (str): The dataset name, case-insensitive.
        root (str or pathlib.Path, optional): The data root; see :func:`resolve_root`.
        **kwargs: Passed on to the loader, e.g. ``download=False``.

    Returns:
        torch_geometric.data.Data: The graph, as the loader returns it.

    Raises:
        ValueError: for a name neither loader knows; the message lists the known names.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name.lower() in PLANETOID_NAMES:
        return load_planetoid(name, root, **kwargs)
    if name.lower().startswith("ogbn-"):
        return load_ogb_node(name, root, **kwargs)
    raise ValueError(
        f"unknown dataset {name!r}: expected one of {sorted(PLANETOID_NAMES) + ogb_node_names()} (case-insensitive)"
    )
