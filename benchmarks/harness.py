"""What the benchmark scripts share: the ``--quick`` / full defaults of their options, the command
that made a results file (it stands under the tables), and the file itself: a ``.partial.md``
holds what is done while the script works, and the final file is written whole at the end (never
assembled by hand)."""
from __future__ import annotations

import argparse
import contextlib
import importlib
import shlex
import sys
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple
from unittest import mock


def settle_counts(parser: argparse.ArgumentParser, args: argparse.Namespace,
                  defaults: Dict[str, Tuple[int, int]], positive: Sequence[str] = ()) -> None:
    """Fills each option of ``defaults`` (``{dest: (quick, full)}``) left at ``None`` from
    ``args.quick``, then refuses any of those and of ``positive`` below 1 (``parser.error``)."""
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    for name in [*defaults, *positive]:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")


@contextlib.contextmanager
def patched(patches: Dict[str, object]) -> Iterator[None]:
    """Sets each ``"module:attribute"`` of ``patches`` for the block (``unittest.mock.patch.object``):
    how a benchmark turns one of the library's levers (a module constant) for a fit."""
    with contextlib.ExitStack() as stack:
        for target, value in patches.items():
            name, attribute = target.split(":")
            module = importlib.import_module(name)
            if not hasattr(module, attribute):
                raise AttributeError(f"{name} has no attribute {attribute}: the benchmark's lever moved")
            stack.enter_context(mock.patch.object(module, attribute, value))
        yield


def command_line(script: str, argv: Optional[Sequence[str]] = None) -> str:
    """The shell command that reproduces this run: ``python benchmarks/<script>.py <args>``, with
    the arguments the script was given (``argv``, else ``sys.argv[1:]``) quoted as a shell would."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join(["python", f"benchmarks/{script}.py", *map(shlex.quote, args)])


class ResultsFile:
    """``<out>/<name>.md``, written whole by :meth:`finish`; :meth:`update` keeps the results so
    far in ``<out>/<name>.partial.md``, so that a run cut short still leaves them."""

    def __init__(self, out: Path, name: str):
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / f"{name}.md"
        self.partial = out / f"{name}.partial.md"

    def update(self, text: str) -> None:
        self.partial.write_text(text)

    def finish(self, text: str) -> Path:
        """Writes the final file, removes the partial one and prints the text."""
        self.path.write_text(text)
        self.partial.unlink(missing_ok=True)
        print()
        print(text)
        print(f"written: {self.path}")
        return self.path
