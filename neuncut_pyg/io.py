r"""Reading graphs, node tables and assignments from files, and writing results atomically.

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
- **Node list** (:func:`read_node_list`): one node id per line; any further columns are
  ignored, so a features or assignments file serves as a node list too.

An edge list cannot name a node without edges; :func:`read_graph` adds the nodes that only a
features file or a node list names to the graph, as isolated nodes.

**How files are read.** Tables are parsed by pandas' C reader, one row per line; node ids are
numbered by :func:`pandas.factorize` and the graph is built by sorting integer keys. The line
rules (:func:`_line_fields` and the row checks) stay the reference: rows the fast path cannot
vouch for (blank or comment lines between the rows, empty fields, values that are not finite
numbers) are looked up in the file and checked by them, so an error names the same line and says
the same thing as a line-by-line reader would; a file whose rows pandas cannot map to lines
(a quoted field spanning lines, a comment line with more fields than the data) is read line by
line.

Writers (:func:`atomic_write_text`, :func:`atomic_write_csv`, :func:`atomic_torch_save`) write a
temporary file in the destination directory and move it into place with :func:`os.replace`, so
a reader sees either the old file or the complete new one, and a failed write leaves nothing.
:func:`output_directory` checks that a destination can be written before any work starts.
"""
from __future__ import annotations

import csv
import io
import itertools
import math
import os
import re
import tempfile
import warnings
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd
import torch
from torch import Tensor

__all__ = [
    "InputError",
    "FileGraph",
    "read_edge_list",
    "read_graph",
    "read_features",
    "read_labels",
    "read_assignments",
    "read_node_list",
    "output_directory",
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

#: First-column names that mark the first row of a node table as a header.
_NODE_COLUMN_NAMES = {"node", "node_id", "nodeid", "id", "name"}


class InputError(ValueError):
    """A user-supplied file is missing, unreadable or malformed.

    The message names the file and, for a bad row, its (1-based) line number.
    """


# ---------------------------------------------------------------------------------------------
# Line rules: the reference for what a row is and when it is bad
# ---------------------------------------------------------------------------------------------


def _input_file(path: PathLike, what: str) -> Path:
    """``path`` as a :class:`~pathlib.Path`, once it is known to be a readable file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} file not found: {p}")
    if p.is_dir():
        raise InputError(f"{what} file {p} is a directory, not a file")
    try:
        with open(p, "rb"):
            pass
    except OSError as err:
        raise InputError(f"cannot read {what} file {p}: {err.strerror or err}") from err
    return p


def _numbered_lines(p: Path, what: str) -> Iterator[Tuple[int, str]]:
    r"""``(line_number, line)`` of every line of a UTF-8 file (``\n``, ``\r\n`` or ``\r`` ends
    a line, as for pandas' reader), without the line break."""
    try:
        with open(p, encoding="utf-8-sig", newline=None) as file:
            for number, line in enumerate(file, start=1):
                yield number, line[:-1] if line.endswith("\n") else line
    except UnicodeDecodeError as err:
        raise InputError(f"{what} file {p} is not UTF-8 text ({err})") from err
    except OSError as err:
        raise InputError(f"cannot read {what} file {p}: {err.strerror or err}") from err


def _delimiter_of(line: str) -> Optional[str]:
    """The delimiter a file's first row implies: comma, else tab, else runs of whitespace (None)."""
    if "," in line:
        return ","
    if "\t" in line:
        return "\t"
    return None


def _line_fields(path: PathLike, number: int, line: str, delimiter: Optional[str]) -> Optional[List[str]]:
    """The stripped fields of a line, or None for a blank line or a ``#`` comment."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    if delimiter is None:
        return stripped.split()
    try:
        return [field.strip() for field in next(csv.reader([line], delimiter=delimiter))]
    except csv.Error as err:
        raise InputError(f"{path}, line {number}: {err}") from None


def _first_row(p: Path, what: str) -> Optional[Tuple[int, List[str], Optional[str]]]:
    """``(line_number, fields, delimiter)`` of the first data line, or None if there is none."""
    with closing(_numbered_lines(p, what)) as lines:
        for number, line in lines:
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                delimiter = _delimiter_of(line)
                return number, _line_fields(p, number, line, delimiter) or [], delimiter
    return None


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


def _check_num_columns(path: PathLike, line: int, fields: Sequence[str], num_columns: int) -> None:
    if len(fields) != num_columns:
        raise InputError(f"{path}, line {line}: expected {num_columns} columns like the first row, got {len(fields)}")


def _check_node_id(path: PathLike, line: int, node: str) -> None:
    if not node:
        raise InputError(f"{path}, line {line}: empty node id")


@dataclass(frozen=True)
class _Layout:
    """Where a table's rows are: its delimiter (None: runs of whitespace), its number of
    columns, and the line of its first row after the header (row ``i`` is on line
    ``data_start + i``)."""

    delimiter: Optional[str]
    num_columns: int
    data_start: int


#: ``check_row(line, fields)``: the parsed row, or an InputError naming the line.
RowCheck = Callable[[int, List[str]], Any]


# ---------------------------------------------------------------------------------------------
# The fast reader (pandas' C engine) and its fallbacks to the line rules
# ---------------------------------------------------------------------------------------------


class _LineByLine(Exception):
    """pandas' rows cannot be matched to the file's lines: read the file by the line rules."""


class _BadLine(Exception):
    """pandas stopped at line ``number`` (a row with too many fields); ``quoted``: the file
    has a quote character before it, so rows may span lines."""

    def __init__(self, number: int, quoted: bool) -> None:
        super().__init__(number)
        self.number = number
        self.quoted = quoted


def _bar(progress: bool, **kwargs: Any):
    """A tqdm bar on stderr, shown when ``progress`` is set and stderr is a terminal."""
    from tqdm.auto import tqdm

    return tqdm(disable=None if progress else True, leave=False, dynamic_ncols=True, **kwargs)


class _CountingReader:
    r"""A binary file as pandas reads it, counting its lines (``\n``, ``\r\n``, ``\r``) and
    reporting the bytes read to a progress bar."""

    def __init__(self, file: Any, bar: Any) -> None:
        self._file = file
        self._bar = bar
        self._breaks = 0
        self._last = b""
        self.saw_quote = False

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        if data:
            self._breaks += data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
            if self._last == b"\r" and data[:1] == b"\n":
                self._breaks -= 1
            self._last = data[-1:]
            self.saw_quote = self.saw_quote or b'"' in data
            self._bar.update(len(data))
        return data

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._file)

    @property
    def num_lines(self) -> int:
        return self._breaks + (1 if self._last not in (b"", b"\n", b"\r") else 0)


class _FloatText(Exception):
    """A float column holds text pandas cannot parse: read the file again with it as text."""


#: Rows of an edge list parsed at a time: only one chunk's id strings are alive at once. Each
#: chunk's distinct ids are looked up among the earlier chunks' once more, so smaller chunks
#: cost time.
_EDGE_CHUNK_ROWS = 1 << 22


def _feed(p: Path, what: str, layout: _Layout, float_columns: Sequence[int], usecols: Optional[List[int]],
          progress: bool, on_chunk: Callable[[pd.DataFrame], None], *, numeric: bool,
          nrows: Optional[int], chunk_rows: Optional[int]) -> None:
    """Passes the rows from line ``layout.data_start`` on (the first ``nrows``), parsed by pandas'
    C reader, to ``on_chunk`` in chunks of ``chunk_rows`` (all at once if None): one row per
    line, blank lines included (as empty fields). Text columns hold ``str`` objects as they
    stand in the file; ``float_columns`` hold float64, NaN where empty or (when not ``numeric``:
    parsed as text, then converted) not a number.

    Raises:
        _FloatText: ``numeric`` and a float column holds text.
        _BadLine: pandas stopped at a line with more fields than the first row.
        _LineByLine: pandas' rows are not the file's lines (a quoted line break, ...).
    """
    columns = list(range(layout.num_columns))
    options: Dict[str, Any] = dict(
        sep=layout.delimiter or r"\s+", header=None, names=columns, index_col=False, usecols=usecols,
        skiprows=layout.data_start - 1, nrows=nrows, skip_blank_lines=False, engine="c", encoding="utf-8",
        quoting=csv.QUOTE_MINIMAL if layout.delimiter else csv.QUOTE_NONE, chunksize=chunk_rows or 1 << 62,
        dtype={c: np.float64 if numeric and c in float_columns else object for c in columns},
    )
    if numeric and float_columns:
        options.update(keep_default_na=False, na_values={c: [""] for c in float_columns})
    else:
        options.update(na_filter=False)
    num_rows = 0
    try:
        with open(p, "rb") as file, _bar(progress, total=p.stat().st_size, unit="B", unit_scale=True,
                                         desc=f"reading {p.name}") as bar:
            source = _CountingReader(file, bar)
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                with pd.read_csv(source, **options) as chunks:
                    for frame in chunks:
                        num_rows += len(frame)
                        if not numeric:
                            for c in float_columns:
                                frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(np.float64)
                        on_chunk(frame)
                        del frame
    except pd.errors.ParserError as err:
        found = re.search(r"line (\d+)", str(err))
        if found is None:
            raise _LineByLine() from err
        raise _BadLine(int(found.group(1)), quoted=source.saw_quote and layout.delimiter is not None) from err
    except pd.errors.ParserWarning as err:
        raise _LineByLine() from err
    except UnicodeDecodeError as err:
        raise InputError(f"{what} file {p} is not UTF-8 text ({err})") from err
    except OSError as err:
        raise InputError(f"cannot read {what} file {p}: {err.strerror or err}") from err
    except ValueError as err:
        if numeric and float_columns:
            raise _FloatText() from err
        raise
    if nrows is None and source.num_lines - (layout.data_start - 1) != num_rows:
        raise _LineByLine()


def _fast_rows(p: Path, what: str, layout: _Layout, float_columns: Sequence[int], usecols: Optional[List[int]],
               progress: bool, consumer: Callable[[], Any], chunk_rows: Optional[int] = None
               ) -> Tuple[Any, Optional[int]]:
    """Feeds the file's rows (:func:`_feed`) to a fresh ``consumer()`` (an object with ``add(frame)``).

    Returns the consumer and None; or, when pandas stops at a row with too many fields, the
    consumer of the rows before it and that row's line number: the caller checks those rows
    first, so that the first bad line of the file is the one reported.
    """

    def run(nrows: Optional[int]) -> Any:
        for numeric in (True, False):
            rows = consumer()
            try:
                _feed(p, what, layout, float_columns, usecols, progress, rows.add, numeric=numeric, nrows=nrows,
                      chunk_rows=chunk_rows)
                return rows
            except _FloatText:
                continue
        raise AssertionError("a text read never raises _FloatText")

    try:
        return run(None), None
    except _BadLine as bad:
        if bad.quoted or bad.number < layout.data_start:
            raise _LineByLine() from None
        try:
            return run(bad.number - layout.data_start), bad.number
        except _BadLine:
            raise _LineByLine() from None


class _Frames:
    """Collects a table's chunks."""

    def __init__(self) -> None:
        self.frames: List[pd.DataFrame] = []

    def add(self, frame: pd.DataFrame) -> None:
        self.frames.append(frame)

    def frame(self) -> Optional[pd.DataFrame]:
        """All rows, or None if there are none."""
        if not self.frames:
            return None
        return self.frames[0] if len(self.frames) == 1 else pd.concat(self.frames, ignore_index=True)


def _check_lines(path: PathLike, p: Path, what: str, layout: _Layout, rows: np.ndarray,
                 check_row: RowCheck) -> Tuple[np.ndarray, Dict[int, Any]]:
    """Checks the lines of the rows ``rows`` (sorted) by the line rules.

    Returns the rows that are blank or comment lines, and the parsed row of each other one;
    raises the InputError of the first bad line.
    """
    blank: List[int] = []
    parsed: Dict[int, Any] = {}
    wanted = iter((rows + layout.data_start).tolist())
    target = next(wanted, None)
    with closing(_numbered_lines(p, what)) as lines:
        for number, line in lines:
            if number != target:
                continue
            row = number - layout.data_start
            fields = _line_fields(path, number, line, layout.delimiter)
            if fields is None:
                blank.append(row)
            else:
                parsed[row] = check_row(number, fields)
            target = next(wanted, None)
            if target is None:
                break
    if target is not None:
        raise _LineByLine()  # the file changed under us
    return np.asarray(blank, dtype=np.int64), parsed


def _rows_line_by_line(path: PathLike, p: Path, what: str, layout: _Layout,
                       check_row: RowCheck) -> Tuple[List[Any], np.ndarray]:
    """Every data row parsed by the line rules, with its line number (the slow, exact path)."""
    rows: List[Any] = []
    lines: List[int] = []
    for number, line in _numbered_lines(p, what):
        if number < layout.data_start:
            continue
        fields = _line_fields(path, number, line, layout.delimiter)
        if fields is None:
            continue
        rows.append(check_row(number, fields))
        lines.append(number)
    return rows, np.asarray(lines, dtype=np.int64)


def _stripped(values: np.ndarray) -> Tuple[np.ndarray, bool]:
    """``values`` (str objects) with surrounding whitespace removed, and whether any had some."""
    raw = values.tolist()
    stripped = [value.strip() for value in raw]
    changed = stripped != raw
    return (np.asarray(stripped, dtype=object) if changed else values), changed


def _suspect_ids(ids: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Masks over stripped ids: empty ones, and ones starting with ``#`` (a comment line's first field)."""
    empty = np.zeros(len(ids), dtype=bool)
    comment = np.zeros(len(ids), dtype=bool)
    for i, node in enumerate(ids.tolist()):
        if not node:
            empty[i] = True
        elif node[0] == "#":
            comment[i] = True
    return empty, comment


# ---------------------------------------------------------------------------------------------
# Edge lists
# ---------------------------------------------------------------------------------------------


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


class _IdNumbering:
    """Numbers ids chunk by chunk in order of first appearance, keeping the ids seen so far.

    Each chunk is factorized (:func:`pandas.factorize`); its distinct ids are then numbered
    against those of the earlier chunks in pandas' object hash table, which is not public API:
    where a pandas version lacks it, a dict does the same (slower).
    """

    def __init__(self) -> None:
        self._new_ids: List[np.ndarray] = []
        self._count = 0
        self._index: Dict[str, int] = {}
        try:
            from pandas._libs.hashtable import ObjectVector, PyObjectHashTable

            self._table: Any = PyObjectHashTable()
            self._vector: Any = ObjectVector
            self._table.get_labels(np.empty(0, dtype=object), ObjectVector(), 0, -1)  # the API is there
        except (ImportError, AttributeError, TypeError, ValueError):
            self._table = None

    def codes(self, ids: np.ndarray) -> np.ndarray:
        """The numbers of ``ids`` (an object array of str), new ids numbered after the known ones."""
        codes, unique = pd.factorize(ids)
        unique = np.asarray(unique, dtype=object)
        if self._table is not None:
            new_ids = self._vector()
            numbers = np.asarray(self._table.get_labels(unique, new_ids, self._count, -1), dtype=np.int64)
            new = new_ids.to_array()
        else:
            numbers = np.fromiter(map(self._index.get, unique.tolist(), itertools.repeat(-1)), dtype=np.int64,
                                  count=len(unique))
            fresh = np.flatnonzero(numbers < 0)
            numbers[fresh] = np.arange(self._count, self._count + fresh.size)
            new = unique[fresh]
            self._index.update(zip(new.tolist(), numbers[fresh].tolist()))
        self._new_ids.append(new)
        self._count += len(new)
        return numbers[codes]

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


# ---------------------------------------------------------------------------------------------
# Node tables: features, labels, assignments, node lists
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Graphs from files: an edge list plus the nodes without edges
# ---------------------------------------------------------------------------------------------


@dataclass
class FileGraph:
    """A graph read by :func:`read_graph`.

    Attributes:
        edge_index (torch.Tensor): ``[2, E]``, both directions, sorted (see :func:`read_edge_list`).
        edge_weight (torch.Tensor or None): ``[E]`` ``float32``, or None without a weight column.
        node_ids (list of str): The ``N`` node ids in index order: the edge list's nodes in
            order of first appearance, then the isolated nodes in the order of their file.
        x (torch.Tensor or None): ``float32`` features ``[N, F]`` when a features file was given.
        num_isolated (int): How many nodes (the last ones) have no edges.
    """

    edge_index: Tensor
    edge_weight: Optional[Tensor]
    node_ids: List[str]
    x: Optional[Tensor] = None
    num_isolated: int = 0


def read_graph(edges: PathLike, *, features: Optional[PathLike] = None, nodes: Optional[PathLike] = None,
               progress: bool = False) -> FileGraph:
    r"""Reads a graph from an edge list, with the nodes that only a features file or a node list names.

    An edge list cannot name a node without edges; the features file (or, for a graph without
    features, the node list) can. Its ids that the edge list lacks become isolated nodes,
    numbered after the edge list's nodes in the order of their file.

    Args:
        edges (str or os.PathLike): The edge list (:func:`read_edge_list`).
        features (str or os.PathLike, optional): Node features (:func:`read_features`). Every
            node of the edge list needs a row; a ``.npy`` file's rows follow the edge list's
            nodes, so it cannot add nodes.
        nodes (str or os.PathLike, optional): A node list (:func:`read_node_list`), for graphs
            without features.
        progress (bool): Show tqdm bars while reading (on a terminal). (default: ``False``)

    Raises:
        InputError: as the readers; for an edge-list node that the features file lacks, with
            the edge list's line that names it; if both ``features`` and ``nodes`` are given.
    """
    if features is not None and nodes is not None:
        raise InputError("give the nodes without edges either in the features file or in a node list, not both")
    edge_index, edge_weight, node_ids = read_edge_list(edges, progress=progress)
    if features is not None and Path(features).suffix.lower() == ".npy":
        return FileGraph(edge_index, edge_weight, node_ids, _read_npy_features(features, len(node_ids)))
    if features is None and nodes is None:
        return FileGraph(edge_index, edge_weight, node_ids)
    if features is not None:
        table = _read_node_table(features, _FEATURES, progress)
        listed = table.ids
    else:
        listed = np.asarray(read_node_list(nodes, progress=progress), dtype=object)
    known = pd.Index(node_ids, dtype=object)
    new = listed[known.get_indexer(listed) < 0]
    new = new[~pd.Index(new, dtype=object).duplicated()]  # a repeated row is reported below
    all_ids = node_ids + new.tolist()
    if features is None:
        return FileGraph(edge_index, edge_weight, all_ids, num_isolated=len(new))
    position = _positions(features, "features", table, all_ids, edges=edges)
    return FileGraph(edge_index, edge_weight, all_ids, _features_in_order(table, position, len(all_ids)), len(new))


# ---------------------------------------------------------------------------------------------
# Writing: the destination checked first, then atomic writes
# ---------------------------------------------------------------------------------------------


@contextmanager
def output_directory(path: PathLike) -> Iterator[Path]:
    r"""Creates directory ``path`` (with its parents) and proves it writable, before the work
    that will write there; if the body raises, the directories created here are removed again
    (those still empty), so a failed run leaves nothing behind.

    Raises:
        OSError: naming the directory, if it cannot be created or written into.

    Example:
        >>> with output_directory("runs/cora") as out:
        ...     train_and_save(out)
    """
    target = Path(path)
    created: List[Path] = []
    missing = target
    while not missing.exists():
        created.append(missing)
        if missing.parent == missing:
            break
        missing = missing.parent
    if missing.exists() and not missing.is_dir():
        raise OSError(f"cannot create directory {target}: {missing} is a file, not a directory")
    for directory in reversed(created):
        try:
            directory.mkdir()
        except FileExistsError:
            pass
        except OSError as err:
            _remove_empty(created)
            raise OSError(f"cannot create directory {target}: {err.strerror or err}") from err
    try:
        fd, probe = tempfile.mkstemp(prefix=".neuncut-write-test.", dir=target)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        _remove_empty(created)
        raise OSError(f"cannot write into directory {target}: {err.strerror or err}") from err
    try:
        yield target
    except BaseException:
        _remove_empty(created)
        raise


def _remove_empty(directories: Sequence[Path]) -> None:
    """Removes ``directories`` (deepest first) that exist and are empty."""
    for directory in directories:
        try:
            directory.rmdir()
        except OSError:
            pass


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
