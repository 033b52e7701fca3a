r"""Edge lists: ``src,dst[,weight]`` rows read into an undirected graph.

Node ids are numbered chunk by chunk with :func:`pandas.factorize`, and the graph is built by
sorting integer keys ``src * N + dst``; rows the fast reader cannot vouch for are checked by the
line rules (:mod:`neuncut_pyg.io.lines`).
"""
from __future__ import annotations

import itertools
import re
from contextlib import closing
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from neuncut_pyg.io.base import InputError, PathLike
from neuncut_pyg.io.lines import (
    RowCheck,
    _check_lines,
    _check_num_columns,
    _first_row,
    _input_file,
    _is_number,
    _Layout,
    _line_fields,
    _LineByLine,
    _numbered_lines,
    _parse_float,
    _rows_line_by_line,
)
from neuncut_pyg.io.tables import _bar, _fast_rows, _stripped, _suspect_ids

try:  # not public API: _IdNumbering falls back on a dict where a pandas version lacks it
    from pandas._libs.hashtable import StringHashTable
except ImportError:  # pragma: no cover
    StringHashTable = None

__all__ = ["read_edge_list"]

#: Column names that mark the first row of an edge list as a header.
_EDGE_HEADER_NAMES = {
    "src", "dst", "source", "target", "from", "to", "u", "v", "node1", "node2", "node_1",
    "node_2", "head", "tail", "i", "j", "weight", "w", "id1", "id2",
}

#: Rows of an edge list parsed at a time: only one chunk's id strings are alive at once (and
#: one string per distinct id, in the hash table that numbers them).
_EDGE_CHUNK_ROWS = 1 << 20


def _no_edges(path: PathLike) -> InputError:
    return InputError(f"edge list {path} holds no edges: the graph is empty")


def _looks_like_edge_header(fields: Sequence[str]) -> bool:
    names = [re.sub(r"[\s\-]+", "_", field.lower()) for field in fields]
    if any(name in _EDGE_HEADER_NAMES for name in names[:2]):
        return True
    return len(fields) == 3 and not _is_number(fields[2])


def _edge_layout(path: PathLike, p: Path) -> _Layout:
    first = _first_row(p, "edge list")
    if first is None:
        raise _no_edges(path)
    number, fields, delimiter = first
    if len(fields) not in (2, 3):
        raise InputError(
            f"{path}, line {number}: expected 2 columns (src, dst) or 3 (src, dst, weight), got {len(fields)}"
        )
    return _Layout(delimiter, len(fields), number + 1 if _looks_like_edge_header(fields) else number)


def _edge_row_check(path: PathLike, num_columns: int) -> RowCheck:
    def check_row(line: int, fields: List[str]) -> Tuple[str, str, Optional[float]]:
        _check_num_columns(path, line, fields, num_columns)
        u, v = fields[0], fields[1]
        if not u or not v:
            raise InputError(f"{path}, line {line}: empty node id")
        weight = None
        if num_columns == 3:
            weight = _parse_float(fields[2], path, line, "weight")
            if weight < 0:
                raise InputError(f"{path}, line {line}: negative weight {fields[2]!r}; affinities must be >= 0")
        return u, v, weight

    return check_row


def _interleaved(src: Any, dst: Any) -> np.ndarray:
    """The ids of each row side by side, ``[src_0, dst_0, src_1, ...]``: the order of first
    appearance of a line-by-line reader."""
    both = np.empty(2 * len(src), dtype=object)
    both[0::2] = src
    both[1::2] = dst
    return both


def _string_hash_table() -> Any:
    """pandas' hash table of strings (the one :func:`pandas.factorize` uses for them); None where a
    pandas version lacks this API, which is not public."""
    if StringHashTable is None:
        return None
    try:
        table = StringHashTable(1)
        table.map_locations(np.empty(0, dtype=object))
        table.lookup(np.empty(0, dtype=object))
    except (AttributeError, TypeError, ValueError):
        return None
    return table


class _IdNumbering:
    """Numbers ids chunk by chunk in order of first appearance, keeping the ids seen so far.

    Every id of a chunk is looked up once in a hash table of the ids seen so far
    (:func:`_string_hash_table`); the ones not found are factorized (:func:`pandas.factorize`)
    and numbered next. Where pandas lacks that table, a dict holds the ids instead. The table
    points into the id strings, which ``self._new_ids`` keeps alive.
    """

    def __init__(self) -> None:
        self._new_ids: List[np.ndarray] = []
        self._count = 0
        self._table: Any = _string_hash_table()
        self._index: Dict[str, int] = {}

    def codes(self, ids: np.ndarray) -> np.ndarray:
        """The numbers of ``ids`` (an object array of str), new ids numbered after the known ones."""
        if not self._count:
            numbers = np.full(len(ids), -1, dtype=np.int64)
        elif self._table is not None:
            numbers = np.asarray(self._table.lookup(ids), dtype=np.int64)
        else:
            numbers = np.fromiter(map(self._index.get, ids.tolist(), itertools.repeat(-1)), dtype=np.int64,
                                  count=len(ids))
        unseen = np.flatnonzero(numbers < 0)
        if unseen.size:
            codes, new = pd.factorize(ids[unseen])
            numbers[unseen] = codes + self._count
            new = np.asarray(new, dtype=object)
            self._remember(new)
            self._new_ids.append(new)
            self._count += len(new)
        return numbers

    def _remember(self, new: np.ndarray) -> None:
        """Puts ids ``new`` in the table, numbered from ``self._count`` on."""
        numbers = range(self._count, self._count + len(new))
        if self._table is None:
            self._index.update(zip(new.tolist(), numbers))
        elif not self._count:
            self._table.map_locations(new)  # the first ids: numbered 0, 1, ... as they stand
        else:
            for node, number in zip(new.tolist(), numbers):
                self._table.set_item(node, number)

    def ids(self) -> np.ndarray:
        """Every id seen, in order of first appearance."""
        ids = np.empty(self._count, dtype=object)
        if self._count:
            ids[:] = np.concatenate(self._new_ids)
        return ids


class _EdgeChunks:
    """An edge list's rows, chunk by chunk: node ids numbered as they come (:class:`_IdNumbering`),
    so that only one chunk's id strings are alive at a time, and the weights."""

    def __init__(self, weighted: bool) -> None:
        self.weighted = weighted
        self.numbering = _IdNumbering()
        self.codes: List[np.ndarray] = []
        self.weights: List[np.ndarray] = []

    def add(self, frame: pd.DataFrame) -> None:
        if self.weighted:
            self.weights.append(frame[2].to_numpy(dtype=np.float64, copy=True))
        both = _interleaved(frame[0].to_numpy(dtype=object), frame[1].to_numpy(dtype=object))
        self.codes.append(self.numbering.codes(both).reshape(-1, 2))

    def result(self) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """``(codes [E, 2], ids, weights or None)``."""
        codes = np.concatenate(self.codes) if self.codes else np.empty((0, 2), dtype=np.int64)
        self.codes = []
        weight = None
        if self.weighted:
            weight = np.concatenate(self.weights) if self.weights else np.empty(0)
        return codes, self.numbering.ids(), weight


def _renumbered(codes: np.ndarray, ids: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Codes and ids restricted to the ids ``codes`` use, again in order of first appearance."""
    new_codes, used = pd.factorize(codes.ravel())
    return new_codes.astype(np.int64, copy=False).reshape(codes.shape), ids[used]


def _directed_keys(codes: np.ndarray, num_nodes: int) -> np.ndarray:
    """``src * N + dst`` of every pair ``codes [E, 2]`` in both directions: ``[2E]`` int64."""
    num_edges = len(codes)
    key = np.empty(2 * num_edges, dtype=np.int64)
    forward, backward = key[:num_edges], key[num_edges:]
    np.multiply(codes[:, 0], num_nodes, out=forward)
    forward += codes[:, 1]
    np.multiply(codes[:, 1], num_nodes, out=backward)
    backward += codes[:, 0]
    return key


def _undirected_edges(key: np.ndarray, weight: Optional[np.ndarray], num_nodes: int
                      ) -> Tuple[Tensor, Optional[Tensor]]:
    """The edges of :func:`_directed_keys`, sorted, each pair once (the largest weight); ``key``
    is sorted in place."""
    if weight is None:
        key.sort()
        order = None
    else:
        key_t, order_t = torch.sort(torch.from_numpy(key))
        key, order = key_t.numpy(), order_t.numpy()
    first = np.empty(len(key), dtype=bool)
    first[:1] = True
    np.not_equal(key[1:], key[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    del first
    edge_index = np.empty((2, len(starts)), dtype=np.int64)
    np.take(key, starts, out=edge_index[1])
    np.floor_divide(edge_index[1], num_nodes, out=edge_index[0])
    np.remainder(edge_index[1], num_nodes, out=edge_index[1])
    edge_weight = None
    if weight is not None:
        doubled = np.concatenate([weight, weight]).astype(np.float32)
        edge_weight = torch.from_numpy(np.maximum.reduceat(doubled[order], starts))
    return torch.from_numpy(edge_index), edge_weight


def read_edge_list(path: PathLike, *, progress: bool = False) -> Tuple[Tensor, Optional[Tensor], List[str]]:
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
        progress (bool): Show tqdm bars for reading and building the graph (on a terminal).
            (default: ``False``)

    Returns:
        ``(edge_index, edge_weight, node_ids)``: ``edge_index`` ``[2, E]`` (``int64``, both
        directions, sorted, no duplicates), ``edge_weight`` ``[E]`` (``float32``) or ``None``
        when the file has no weight column, and the ``N`` node id strings in index order.

    Raises:
        InputError: if the file is missing or unreadable, a row has the wrong number of
            columns, an empty node id or a weight that is not a finite non-negative number
            (the message gives the line number), or the file holds no edges.
    """
    p = _input_file(path, "edge list")
    layout = _edge_layout(path, p)
    weighted = layout.num_columns == 3
    check_row = _edge_row_check(path, layout.num_columns)
    weight: Optional[np.ndarray] = None
    try:
        chunks, bad_line = _fast_rows(p, "edge list", layout, [2] if weighted else [], None, progress,
                                      lambda: _EdgeChunks(weighted), chunk_rows=_EDGE_CHUNK_ROWS)
        with _bar(progress, total=2, desc="building graph") as steps:
            codes, ids, weight = _checked_edges(path, p, layout, *chunks.result(), check_row, bad_line)
            del chunks
            key = _directed_keys(codes, len(ids))
            del codes
            steps.update()
            edge_index, edge_weight = _undirected_edges(key, weight, len(ids))
            steps.update()
    except _LineByLine:
        rows, _ = _rows_line_by_line(path, p, "edge list", layout, check_row)
        if not rows:
            raise _no_edges(path) from None
        src, dst, weights = (np.asarray(column, dtype=object) for column in zip(*rows))
        numbering = _IdNumbering()
        codes, ids = numbering.codes(_interleaved(src, dst)).reshape(-1, 2), numbering.ids()
        weight = weights.astype(np.float64) if weighted else None
        edge_index, edge_weight = _undirected_edges(_directed_keys(codes, len(ids)), weight, len(ids))
    return edge_index, edge_weight, ids.tolist()


def _checked_edges(path: PathLike, p: Path, layout: _Layout, codes: np.ndarray, ids: np.ndarray,
                   weight: Optional[np.ndarray], check_row: RowCheck, bad_line: Optional[int]
                   ) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """The fast reader's edges after the line rules: rows with an empty or ``#`` first field, an
    empty second field or a weight that is not a finite non-negative number are checked in the
    file (dropped if blank or comment lines, an error otherwise), then ``bad_line`` (the line
    pandas stopped at, after these rows); ids are stripped."""
    ids, changed = _stripped(ids)
    if changed:  # " a" and "a" are one node
        remap, ids = pd.factorize(ids)
        codes = remap.astype(np.int64)[codes]
        ids = np.asarray(ids, dtype=object)
    empty, comment = _suspect_ids(ids)
    suspect = np.zeros(len(codes), dtype=bool)
    if empty.any() or comment.any():
        suspect |= (empty | comment)[codes[:, 0]] | empty[codes[:, 1]]
    if weight is not None:
        suspect |= ~(np.isfinite(weight) & (weight >= 0))
    rows = np.flatnonzero(suspect)
    if bad_line is not None:
        rows = np.append(rows, bad_line - layout.data_start)
    if rows.size:
        blank, parsed = _check_lines(path, p, "edge list", layout, rows, check_row)
        if bad_line is not None:
            raise _LineByLine()  # pandas' line holds no error by the line rules
        if weight is not None:
            for row, (_, _, value) in parsed.items():
                weight[row] = value
        if blank.size:
            keep = np.ones(len(codes), dtype=bool)
            keep[blank] = False
            codes = codes[keep]
            weight = weight[keep] if weight is not None else None
            if not len(codes):
                raise _no_edges(path)
            codes, ids = _renumbered(codes, ids)
    if not len(codes):
        raise _no_edges(path)
    return codes, ids, weight


def _first_line_naming(edges: PathLike, node: str) -> Optional[int]:
    """The first line of an edge list with ``node`` as src or dst (for an error message)."""
    p = Path(edges)
    layout = _edge_layout(edges, p)
    with closing(_numbered_lines(p, "edge list")) as lines:
        for number, line in lines:
            if number >= layout.data_start and node in line:
                fields = _line_fields(edges, number, line, layout.delimiter)
                if fields is not None and node in fields[:2]:
                    return number
    return None
