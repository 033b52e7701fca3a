r"""Reading graphs, features and labels from files, and writing results atomically.

The command line (:mod:`neuncut_pyg.cli`) reads user files through this module only, so every
malformed input ends in one exception type, :class:`InputError`, whose message names the file
and, for a bad row, its line number.

File formats:

- **Edge list** (:func:`read_edge_list`): one edge per line, ``src,dst`` or ``src,dst,weight``,
  separated by commas, tabs or runs of whitespace (sniffed from the first row). Node ids are
  arbitrary strings (``"42"``, ``"alice"``). An optional header row is recognised by its column
  names (``src``/``dst``, ``source``/``target``, ...) or by a non-numeric weight column. Blank
  lines and lines starting with ``#`` are skipped.
- **Features** (:func:`read_features`): a ``.npy`` array ``[N, F]`` whose rows follow the
  node order of the graph, or a delimited text file whose first column is the node id and whose
  remaining columns are the features (rows in any order, optional header).
- **Labels and assignments** (:func:`read_labels`, :func:`read_assignments`): delimited text
  with the node id first, then a label (or cluster id).

Writers (:func:`atomic_write_text`, :func:`atomic_write_csv`, :func:`atomic_torch_save`) write a
temporary file in the destination directory and move it into place with :func:`os.replace`, so
a reader sees either the old file or the complete new one, and a failed write leaves nothing.
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from torch_geometric.utils import coalesce

__all__ = [
    "InputError",
    "read_edge_list",
    "read_features",
    "read_labels",
    "read_assignments",
    "atomic_path",
    "atomic_write_text",
    "atomic_write_csv",
    "atomic_torch_save",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Column names that mark the first row of an edge list as a header.
_EDGE_HEADER_NAMES = {
    "src", "dst", "source", "target", "from", "to", "u", "v", "node1", "node2", "node_1",
    "node_2", "head", "tail", "i", "j", "weight", "w", "id1", "id2",
}


class InputError(ValueError):
    """A user-supplied file is missing, unreadable or malformed.

    The message names the file and, for a bad row, its (1-based) line number.
    """


# ---------------------------------------------------------------------------------------------
# Reading delimited text
# ---------------------------------------------------------------------------------------------


def _read_text(path: PathLike, what: str) -> str:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} file not found: {p}")
    if p.is_dir():
        raise InputError(f"{what} file {p} is a directory, not a file")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{what} file {p} is not UTF-8 text ({err})") from err
    except OSError as err:
        raise InputError(f"cannot read {what} file {p}: {err.strerror or err}") from err


def _rows(text: str) -> Iterator[Tuple[int, List[str]]]:
    r"""``(line_number, fields)`` of each data line: the delimiter (comma, tab, or whitespace)
    is sniffed from the first non-blank, non-comment line; fields are stripped."""
    lines = text.splitlines()
    first = next((line for line in lines if line.strip() and not line.lstrip().startswith("#")), None)
    if first is None:
        return
    if "," in first:
        delimiter: Optional[str] = ","
    elif "\t" in first:
        delimiter = "\t"
    else:
        delimiter = None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if delimiter is None:
            fields = stripped.split()
        else:
            fields = [field.strip() for field in next(csv.reader([line], delimiter=delimiter))]
        yield number, fields


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _parse_float(field: str, path: PathLike, line: int, what: str) -> float:
    try:
        value = float(field)
    except ValueError:
        raise InputError(f"{path}, line {line}: {what} {field!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{path}, line {line}: {what} {field!r} is not finite")
    return value


# ---------------------------------------------------------------------------------------------
# Edge lists
# ---------------------------------------------------------------------------------------------


def _looks_like_edge_header(fields: Sequence[str]) -> bool:
    names = [re.sub(r"[\s\-]+", "_", field.lower()) for field in fields]
    if any(name in _EDGE_HEADER_NAMES for name in names[:2]):
        return True
    return len(fields) == 3 and not _is_number(fields[2])


def read_edge_list(path: PathLike) -> Tuple[Tensor, Optional[Tensor], List[str]]:
    r"""Reads an undirected graph from an edge-list file.

    Each data line is ``src<sep>dst`` or ``src<sep>dst<sep>weight`` (``<sep>``: comma, tab or
    whitespace, sniffed from the first row; every row must have the first row's number of
    columns). A header row is optional. Node ids are strings, numbered ``0..N-1`` in order of
    first appearance.

    The graph is made undirected: each edge is stored in both directions. A pair listed more
    than once (in either direction) becomes one edge, keeping the largest weight, so a file
    that already lists both directions reads the same as one that lists each edge once. A
    self-loop ``(i, i)`` is kept once, as a single entry.

    Args:
        path (str or os.PathLike): The file.

    Returns:
        ``(edge_index, edge_weight, node_ids)``: ``edge_index`` ``[2, E]`` (``int64``, both
        directions, sorted, no duplicates), ``edge_weight`` ``[E]`` (``float32``) or ``None``
        when the file has no weight column, and the ``N`` node id strings in index order.

    Raises:
        InputError: if the file is missing or unreadable, a row has the wrong number of
            columns, an empty node id or a weight that is not a finite non-negative number
            (the message gives the line number), or the file holds no edges.
    """
    text = _read_text(path, "edge list")
    ids: Dict[str, int] = {}
    src: List[int] = []
    dst: List[int] = []
    weights: List[float] = []
    num_columns: Optional[int] = None
    for line, fields in _rows(text):
        if num_columns is None:
            if len(fields) not in (2, 3):
                raise InputError(
                    f"{path}, line {line}: expected 2 columns (src, dst) or 3 (src, dst, weight), "
                    f"got {len(fields)}"
                )
            num_columns = len(fields)
            if _looks_like_edge_header(fields):
                continue
        if len(fields) != num_columns:
            raise InputError(
                f"{path}, line {line}: expected {num_columns} columns like the first row, got {len(fields)}"
            )
        u, v = fields[0], fields[1]
        if not u or not v:
            raise InputError(f"{path}, line {line}: empty node id")
        if num_columns == 3:
            weight = _parse_float(fields[2], path, line, "weight")
            if weight < 0:
                raise InputError(f"{path}, line {line}: negative weight {fields[2]!r}; affinities must be >= 0")
            weights.append(weight)
        src.append(ids.setdefault(u, len(ids)))
        dst.append(ids.setdefault(v, len(ids)))
    if not src:
        raise InputError(f"edge list {path} holds no edges: the graph is empty")

    row = torch.tensor(src, dtype=torch.long)
    col = torch.tensor(dst, dtype=torch.long)
    edge_index = torch.stack([torch.cat([row, col]), torch.cat([col, row])])
    edge_weight = torch.tensor(weights, dtype=torch.float32).repeat(2) if num_columns == 3 else None
    # coalesce merges the two copies of a self-loop and repeated pairs (keeping the max weight).
    if edge_weight is None:
        edge_index = coalesce(edge_index, num_nodes=len(ids))
    else:
        edge_index, edge_weight = coalesce(edge_index, edge_weight, num_nodes=len(ids), reduce="max")
    return edge_index, edge_weight, list(ids)


# ---------------------------------------------------------------------------------------------
# Node tables: features, labels, assignments
# ---------------------------------------------------------------------------------------------


def _node_table(path: PathLike, what: str, numeric: bool = True) -> List[Tuple[int, str, List[str]]]:
    r"""``(line, node_id, values)`` rows of a delimited file whose first column is the node id.

    Every row must have the first row's number of columns (at least two). The first row is a
    header when, for ``numeric`` values, one of its value columns is not a number, or, for
    string values (labels), its first column is named like a node id column (``node``,
    ``node_id``, ``id``, ``name``).
    """
    rows: List[Tuple[int, str, List[str]]] = []
    num_columns: Optional[int] = None
    for line, fields in _rows(_read_text(path, what)):
        if num_columns is None:
            if len(fields) < 2:
                raise InputError(
                    f"{path}, line {line}: expected a node id and at least one value, got {len(fields)} column(s)"
                )
            num_columns = len(fields)
            if numeric:
                header = not all(_is_number(field) for field in fields[1:])
            else:
                header = fields[0].lower() in {"node", "node_id", "nodeid", "id", "name"}
            if header:
                continue
        if len(fields) != num_columns:
            raise InputError(
                f"{path}, line {line}: expected {num_columns} columns like the first row, got {len(fields)}"
            )
        if not fields[0]:
            raise InputError(f"{path}, line {line}: empty node id")
        rows.append((line, fields[0], fields[1:]))
    if not rows:
        raise InputError(f"{what} file {path} holds no rows")
    return rows


def _align(
    path: PathLike, what: str, rows: List[Tuple[int, str, List[str]]], node_ids: Sequence[str]
) -> List[List[str]]:
    """The value columns of ``rows`` in ``node_ids`` order; every node exactly once."""
    index = {node: i for i, node in enumerate(node_ids)}
    aligned: List[Optional[List[str]]] = [None] * len(node_ids)
    for line, node, values in rows:
        i = index.get(node)
        if i is None:
            raise InputError(f"{path}, line {line}: unknown node id {node!r} (not a node of the graph)")
        if aligned[i] is not None:
            raise InputError(f"{path}, line {line}: node id {node!r} appears twice")
        aligned[i] = values
    missing = [node for node, values in zip(node_ids, aligned) if values is None]
    if missing:
        shown = ", ".join(repr(node) for node in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise InputError(f"{what} file {path} has no row for {len(missing)} node(s) of the graph: {shown}")
    return aligned  # type: ignore[return-value]


def read_features(path: PathLike, node_ids: Sequence[str]) -> Tensor:
    r"""Reads node features for the nodes ``node_ids`` (as returned by :func:`read_edge_list`).

    Args:
        path (str or os.PathLike): A ``.npy`` file holding a 2-D array ``[N, F]`` whose row
            ``i`` belongs to ``node_ids[i]``; or a delimited text file (comma, tab or
            whitespace) with the node id in the first column and ``F`` numbers after it, one
            row per node in any order, header optional.
        node_ids (Sequence[str]): The graph's node ids, in index order.

    Returns:
        torch.Tensor: ``float32`` features ``[N, F]`` in ``node_ids`` order.

    Raises:
        InputError: if the file is missing or malformed, holds non-finite values, names a node
            that is not in the graph (with its line number), lists a node twice, or misses a node.
    """
    p = Path(path)
    if p.suffix.lower() == ".npy":
        if not p.is_file():
            raise InputError(f"features file not found: {p}")
        try:
            array = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise InputError(f"cannot read features file {p} as a .npy array: {err}") from err
        if array.ndim != 2:
            raise InputError(f"features file {p} holds an array of shape {list(array.shape)}; expected 2-D [N, F]")
        if array.shape[0] != len(node_ids):
            raise InputError(
                f"features file {p} has {array.shape[0]} rows but the graph has {len(node_ids)} nodes "
                "(a .npy file's rows follow the graph's node order)"
            )
        if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
            raise InputError(f"features file {p} holds {array.dtype} values; expected real numbers")
        x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        if not bool(torch.isfinite(x).all()):
            raise InputError(f"features file {p} contains NaN or infinite values")
        return x
    rows = _node_table(p, "features")
    values = []
    for line, _, fields in rows:
        values.append([_parse_float(field, p, line, "feature value") for field in fields])
    by_id = [(line, node, vals) for (line, node, _), vals in zip(rows, values)]
    aligned = _align(p, "features", by_id, node_ids)  # type: ignore[arg-type]
    return torch.tensor(aligned, dtype=torch.float32)


def read_labels(path: PathLike, node_ids: Sequence[str]) -> Tensor:
    r"""Reads one label per node from a delimited ``node_id,label`` file (header optional).

    Labels may be any strings; they are numbered in order of first appearance.

    Returns:
        torch.Tensor: ``int64`` labels ``[N]`` in ``node_ids`` order.

    Raises:
        InputError: as :func:`read_features`.
    """
    rows = _node_table(path, "labels", numeric=False)
    if len(rows[0][2]) != 1:
        raise InputError(f"{path}, line {rows[0][0]}: expected 2 columns (node_id, label), got {len(rows[0][2]) + 1}")
    aligned = _align(path, "labels", rows, node_ids)
    codes: Dict[str, int] = {}
    return torch.tensor([codes.setdefault(values[0], len(codes)) for values in aligned], dtype=torch.long)


def read_assignments(path: PathLike, node_ids: Sequence[str]) -> Tensor:
    r"""Reads cluster ids from an assignments file as written by ``neuncut fit`` / ``assign``.

    The file is delimited text with a ``node_id,cluster[,confidence]`` header; the cluster
    column must hold integers. Every node of the graph must appear exactly once.

    Returns:
        torch.Tensor: ``int64`` cluster ids ``[N]`` in ``node_ids`` order.

    Raises:
        InputError: as :func:`read_features`, or for a non-integer cluster id.
    """
    rows = _node_table(path, "assignments")
    aligned = _align(path, "assignments", rows, node_ids)
    line_of = {node: line for line, node, _ in rows}
    clusters = []
    for node, values in zip(node_ids, aligned):
        try:
            clusters.append(int(values[0]))
        except ValueError:
            raise InputError(f"{path}, line {line_of[node]}: cluster id {values[0]!r} is not an integer") from None
    return torch.tensor(clusters, dtype=torch.long)


# ---------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    r"""Yields a temporary path beside ``path``; on success it is moved onto ``path``.

    Whatever the body writes to the temporary path replaces ``path`` in one
    :func:`os.replace` when the body finishes; if the body raises, the temporary file is
    removed and ``path`` is left as it was (absent, or its old content).

    Example:
        >>> with atomic_path("out/plot.png") as tmp:
        ...     figure.savefig(tmp, format="png")
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"cannot write {target}: directory {directory} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: PathLike, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_csv(path: PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Writes a comma-separated file with a header row to ``path`` atomically.

    ``rows`` may be a generator: if it raises part-way, nothing is written.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def atomic_torch_save(obj: Any, path: PathLike) -> None:
    """:func:`torch.save` of ``obj`` to ``path``, atomically; see :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
