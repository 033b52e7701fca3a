r"""What every reader and writer of :mod:`neuncut_pyg.io` shares: the error a bad user file
ends in, and the type of a path."""
from __future__ import annotations

import os
from typing import Union

__all__ = ["InputError", "PathLike"]

PathLike = Union[str, "os.PathLike[str]"]


class InputError(ValueError):
    """A user-supplied file is missing, unreadable or malformed.

    The message names the file and, for a bad row, its (1-based) line number.
    """
