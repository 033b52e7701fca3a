r"""Node tables: features, labels, assignments and node lists, one row per node, the node id first.

A table is read into its rows in file order (:func:`_read_node_table`), then matched to the
graph's node ids (:func:`_positions`): an unknown id, a repeated one or a node without a row is
an error naming its line.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from neuncut_pyg.io.base import InputError, PathLike
from neuncut_pyg.io.edges import _first_line_naming
from neuncut_pyg.io.lines import (
    RowCheck,
    _check_lines,
    _check_node_id,
    _check_num_columns,
    _first_row,
    _input_file,
    _is_number,
    _Layout,
    _LineByLine,
    _parse_float,
    _rows_line_by_line,
)
from neuncut_pyg.io.tables import _fast_rows, _Frames, _stripped, _suspect_ids

__all__ = ["read_features", "read_labels", "read_assignments", "read_node_list"]

#: First-column names that mark the first row of a node table as a header.
_NODE_COLUMN_NAMES = {"node", "node_id", "nodeid", "id", "name"}


@dataclass(frozen=True)
class _TableKind:
    """What a node table holds after its id column: ``values`` ``"float"`` (parsed, finite),
    ``"str"`` (kept as text) or ``"none"`` (ignored: a node list); whether its header is told
    by non-numeric values (else by an id-like first column name); the fewest columns."""

    what: str
    values: str
    numeric_header: bool
    min_columns: int


_FEATURES = _TableKind("features", "float", numeric_header=True, min_columns=2)
_LABELS = _TableKind("labels", "str", numeric_header=False, min_columns=2)
_ASSIGNMENTS = _TableKind("assignments", "str", numeric_header=True, min_columns=2)
_NODE_LIST = _TableKind("node list", "none", numeric_header=False, min_columns=1)


@dataclass
class _NodeTable:
    """A node table's rows in file order: stripped ids, values ``[R, C]`` and line numbers."""

    ids: np.ndarray
    values: np.ndarray
    lines: np.ndarray


def _no_rows(path: PathLike, kind: _TableKind) -> InputError:
    return InputError(f"{kind.what} file {path} holds no rows")


def _table_layout(path: PathLike, p: Path, kind: _TableKind) -> _Layout:
    first = _first_row(p, kind.what)
    if first is None:
        raise _no_rows(path, kind)
    number, fields, delimiter = first
    if len(fields) < kind.min_columns:
        raise InputError(
            f"{path}, line {number}: expected a node id and at least one value, got {len(fields)} column(s)"
        )
    if kind.numeric_header:
        header = not all(_is_number(field) for field in fields[1:])
    else:
        header = fields[0].lower() in _NODE_COLUMN_NAMES
    return _Layout(delimiter, len(fields), number + 1 if header else number)


def _table_row_check(path: PathLike, kind: _TableKind, num_columns: int) -> RowCheck:
    """The row shape rules of a table: ``(node_id, value fields)``. Values are parsed after every
    row's shape is checked (:func:`_parsed_values`), so a shape error anywhere comes first."""

    def check_row(line: int, fields: List[str]) -> Tuple[str, List[str]]:
        if kind.values != "none":
            _check_num_columns(path, line, fields, num_columns)
        _check_node_id(path, line, fields[0])
        return fields[0], (fields[1:] if kind.values != "none" else [])

    return check_row


def _parsed_values(path: PathLike, kind: _TableKind, line: int, fields: List[str]) -> List[Any]:
    if kind.values == "float":
        return [_parse_float(field, path, line, "feature value") for field in fields]
    return fields


def _read_node_table(path: PathLike, kind: _TableKind, progress: bool = False) -> _NodeTable:
    """The rows of a node table (first column: node id), checked by the line rules."""
    p = _input_file(path, kind.what)
    layout = _table_layout(path, p, kind)
    check_row = _table_row_check(path, kind, layout.num_columns)
    value_columns = list(range(1, layout.num_columns)) if kind.values != "none" else []
    float_columns = value_columns if kind.values == "float" else []
    try:
        frames, bad_line = _fast_rows(p, kind.what, layout, float_columns, None if value_columns else [0], progress,
                                      _Frames)
        frame = frames.frame()
        del frames
        if frame is None:
            raise _no_rows(path, kind)
        ids, _ = _stripped(frame[0].to_numpy(dtype=object))
        if kind.values == "float":
            values = frame[value_columns].to_numpy(dtype=np.float64, copy=True)
        else:
            values = np.empty((len(frame), len(value_columns)), dtype=object)
            for j, c in enumerate(value_columns):
                values[:, j], _ = _stripped(frame[c].to_numpy(dtype=object))
        lines = np.arange(len(frame), dtype=np.int64) + layout.data_start
        del frame
        empty, comment = _suspect_ids(ids)
        suspect = empty | comment
        if kind.values == "float":
            suspect |= ~np.isfinite(values).all(axis=1)
        elif kind.values == "str" and value_columns:
            # a missing field reads as "": the line tells a short row from an empty value
            suspect |= (values == "").any(axis=1)
        rows = np.flatnonzero(suspect)
        if bad_line is not None:
            rows = np.append(rows, bad_line - layout.data_start)
        if rows.size:
            blank, parsed = _check_lines(path, p, kind.what, layout, rows, check_row)
            if bad_line is not None:
                raise _LineByLine()  # pandas' line holds no error by the line rules
            keep = np.ones(len(ids), dtype=bool)
            keep[blank] = False
            if not keep.any():
                raise _no_rows(path, kind)
            for row in sorted(parsed):
                values[row] = _parsed_values(path, kind, int(lines[row]), parsed[row][1])
            ids, values, lines = ids[keep], values[keep], lines[keep]
    except _LineByLine:
        rows_, lines = _rows_line_by_line(path, p, kind.what, layout, check_row)
        if not rows_:
            raise _no_rows(path, kind) from None
        ids = np.asarray([node for node, _ in rows_], dtype=object)
        dtype = np.float64 if kind.values == "float" else object
        values = np.empty((len(rows_), len(value_columns)), dtype=dtype)
        for i, ((_, fields), line) in enumerate(zip(rows_, lines.tolist())):
            values[i] = _parsed_values(path, kind, line, fields)
    if not len(ids):
        raise _no_rows(path, kind)
    return _NodeTable(ids, values, lines)


def _positions(path: PathLike, what: str, table: _NodeTable, node_ids: Sequence[str],
               edges: Optional[PathLike] = None) -> np.ndarray:
    """The graph index of each row of ``table``; every node of ``node_ids`` exactly once.

    Raises:
        InputError: for the first row (in file order) whose id is not a node or repeats an
            earlier row's, or for the nodes without a row (with the line of ``edges`` that
            names the first of them, when given).
    """
    position = pd.Index(list(node_ids), dtype=object).get_indexer(table.ids)
    unknown = position < 0
    repeated = pd.Index(table.ids, dtype=object).duplicated()
    bad = unknown | repeated
    if bad.any():
        i = int(np.argmax(bad))
        line, node = int(table.lines[i]), table.ids[i]
        if unknown[i]:
            raise InputError(f"{path}, line {line}: unknown node id {node!r} (not a node of the graph)")
        raise InputError(f"{path}, line {line}: node id {node!r} appears twice")
    covered = np.zeros(len(node_ids), dtype=bool)
    covered[position] = True
    if not covered.all():
        missing = [node_ids[i] for i in np.flatnonzero(~covered)[:6].tolist()]
        count = int((~covered).sum())
        shown = ", ".join(repr(node) for node in missing[:5]) + (", ..." if count > 5 else "")
        where = ""
        if edges is not None:
            line = _first_line_naming(edges, missing[0])
            if line is not None:
                where = f" ({edges}, line {line} names {missing[0]!r})"
        raise InputError(f"{what} file {path} has no row for {count} node(s) of the graph: {shown}{where}")
    return position


def _read_npy_features(path: PathLike, num_nodes: int) -> Tensor:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"features file not found: {p}")
    try:
        array = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read features file {p} as a .npy array: {err}") from err
    if array.ndim != 2:
        raise InputError(f"features file {p} holds an array of shape {list(array.shape)}; expected 2-D [N, F]")
    if array.shape[0] != num_nodes:
        raise InputError(
            f"features file {p} has {array.shape[0]} rows but the graph has {num_nodes} nodes "
            "(a .npy file's rows follow the graph's node order; to add nodes without edges, give "
            "the features as a CSV with node ids)"
        )
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise InputError(f"features file {p} holds {array.dtype} values; expected real numbers")
    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"features file {p} contains NaN or infinite values")
    return x


def _features_in_order(table: _NodeTable, position: np.ndarray, num_nodes: int) -> Tensor:
    x = np.empty((num_nodes, table.values.shape[1]), dtype=np.float32)
    x[position] = table.values
    return torch.from_numpy(x)


def read_features(path: PathLike, node_ids: Sequence[str], *, progress: bool = False) -> Tensor:
    r"""Reads node features for the nodes ``node_ids`` (as returned by :func:`read_edge_list`).

    Args:
        path (str or os.PathLike): A ``.npy`` file holding a 2-D array ``[N, F]`` whose row
            ``i`` belongs to ``node_ids[i]``; or a delimited text file (comma, tab or
            whitespace) with the node id in the first column and ``F`` numbers after it, one
            row per node in any order, header optional.
        node_ids (Sequence[str]): The graph's node ids, in index order.
        progress (bool): Show a tqdm bar while reading (on a terminal). (default: ``False``)

    Returns:
        torch.Tensor: ``float32`` features ``[N, F]`` in ``node_ids`` order.

    Raises:
        InputError: if the file is missing or malformed, holds non-finite values, names a node
            that is not in the graph (with its line number), lists a node twice, or misses a node.
    """
    if Path(path).suffix.lower() == ".npy":
        return _read_npy_features(path, len(node_ids))
    table = _read_node_table(path, _FEATURES, progress)
    return _features_in_order(table, _positions(path, "features", table, node_ids), len(node_ids))


def read_labels(path: PathLike, node_ids: Sequence[str]) -> Tensor:
    r"""Reads one label per node from a delimited ``node_id,label`` file (header optional).

    Labels may be any strings; they are numbered in order of first appearance.

    Returns:
        torch.Tensor: ``int64`` labels ``[N]`` in ``node_ids`` order.

    Raises:
        InputError: as :func:`read_features`.
    """
    table = _read_node_table(path, _LABELS)
    if table.values.shape[1] != 1:
        raise InputError(
            f"{path}, line {table.lines[0]}: expected 2 columns (node_id, label), got {table.values.shape[1] + 1}"
        )
    position = _positions(path, "labels", table, node_ids)
    labels = np.empty(len(node_ids), dtype=object)
    labels[position] = table.values[:, 0]
    codes, _ = pd.factorize(labels)
    return torch.from_numpy(codes.astype(np.int64))


def read_assignments(path: PathLike, node_ids: Sequence[str]) -> Tensor:
    r"""Reads cluster ids from an assignments file as written by ``neuncut fit`` / ``assign``.

    The file is delimited text with a ``node_id,cluster[,confidence]`` header; the cluster
    column must hold integers. Every node of the graph must appear exactly once.

    Returns:
        torch.Tensor: ``int64`` cluster ids ``[N]`` in ``node_ids`` order.

    Raises:
        InputError: as :func:`read_features`, or for a non-integer cluster id.
    """
    table = _read_node_table(path, _ASSIGNMENTS)
    position = _positions(path, "assignments", table, node_ids)
    row_of = np.empty(len(node_ids), dtype=np.int64)
    row_of[position] = np.arange(len(position))
    clusters = []
    for row in row_of.tolist():
        field = table.values[row, 0]
        try:
            clusters.append(int(field))
        except ValueError:
            raise InputError(f"{path}, line {table.lines[row]}: cluster id {field!r} is not an integer") from None
    return torch.tensor(clusters, dtype=torch.long)


def read_node_list(path: PathLike, *, progress: bool = False) -> List[str]:
    r"""Reads node ids, one a line, in file order.

    Only the first column counts (comma, tab or whitespace separated; header optional when
    named ``node``, ``node_id``, ``id`` or ``name``), so a features or assignments file can
    serve as a node list.

    Raises:
        InputError: if the file is missing or malformed, or names a node twice (with the line).
    """
    table = _read_node_table(path, _NODE_LIST, progress)
    repeated = pd.Index(table.ids, dtype=object).duplicated()
    if repeated.any():
        i = int(np.argmax(repeated))
        raise InputError(f"{path}, line {table.lines[i]}: node id {table.ids[i]!r} appears twice")
    return table.ids.tolist()
