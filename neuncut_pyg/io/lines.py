r"""The line rules: the reference for what a row of a delimited file is and when it is bad.

A file is read as UTF-8 lines; its first data row sets the delimiter (comma, else tab, else runs
of whitespace) and the number of columns; blank lines and ``#`` comments are skipped. The fast
reader (:mod:`neuncut_pyg.io.tables`) hands every row it cannot vouch for back to these rules,
so an error names the same line, with the same words, whichever reader met it.
"""
from __future__ import annotations

import csv
import math
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from neuncut_pyg.io.base import InputError, PathLike


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


class _LineByLine(Exception):
    """pandas' rows cannot be matched to the file's lines: read the file by the line rules."""


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
