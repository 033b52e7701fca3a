r"""Writing results: the destination checked before any work, then atomic writes.

A writer writes a temporary file in the destination directory and moves it into place with
:func:`os.replace`, so a reader sees either the old file or the complete new one, and a failed
write leaves nothing.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Sequence

import torch

from neuncut_pyg.io.base import InputError, PathLike

__all__ = ["output_directory", "atomic_path", "atomic_write_text", "atomic_write_csv", "atomic_torch_save"]


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
