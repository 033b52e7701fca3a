r"""The fast reader: a table's rows parsed by pandas' C engine, one row per line.

Rows are passed on in chunks (so that an edge list's id strings are alive one chunk at a time),
the lines counted as pandas reads them, the bytes shown on a tqdm bar. When pandas' rows cannot
be matched to the file's lines, :class:`~neuncut_pyg.io.lines._LineByLine` tells the caller to
read the file by the line rules instead.
"""
from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from neuncut_pyg.io.base import InputError
from neuncut_pyg.io.lines import _Layout, _LineByLine


class _BadLine(Exception):
    """pandas stopped at line ``number`` (a row with too many fields); ``quoted``: the file
    has a quote character before it, so rows may span lines."""

    def __init__(self, number: int, quoted: bool) -> None:
        super().__init__(number)
        self.number = number
        self.quoted = quoted


def _bar(progress: bool, **kwargs: Any):
    """A tqdm bar on stderr, shown when ``progress`` is set and stderr is a terminal."""
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
