"""The argument checks every entry point shares: each raises a ``ValueError`` that names the
argument and what it got, so that bad input fails before any work is done."""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Optional, Sequence

__all__ = [
    "is_int",
    "check_int",
    "check_optional_int",
    "check_real",
    "check_probability",
    "check_num_clusters",
    "check_num_neighbors",
    "check_choice",
]


def is_int(value: object) -> bool:
    """Whether ``value`` is an integer (Python or numpy), booleans excluded."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_int(value: object, name: str, minimum: int = 1) -> int:
    """``value`` as an ``int``, or a ``ValueError`` if it is not an integer ``>= minimum``."""
    if not is_int(value) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def check_optional_int(value: object, name: str, minimum: int = 1) -> Optional[int]:
    """:func:`check_int`, letting ``None`` through."""
    if value is None:
        return None
    if not is_int(value) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what} or None, got {value!r}")
    return int(value)


def check_real(value: object, name: str, minimum: float = -math.inf, *, strict: bool = False) -> float:
    """``value`` as a ``float``, or a ``ValueError`` if it is not a finite number ``>= minimum``
    (``> minimum`` with ``strict``)."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (strict and value == minimum):
        bound = "" if minimum == -math.inf else f" {'>' if strict else '>='} {minimum:g}"
        raise ValueError(f"{name} must be a finite number{bound}, got {value!r}")
    return float(value)


def check_probability(value: object, name: str) -> float:
    """``value`` as a ``float`` in ``[0, 1)`` (a dropout rate, a momentum)."""
    if not (isinstance(value, Real) and not isinstance(value, bool) and 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}")
    return float(value)


def check_num_clusters(k: object, num_nodes: int, name: str = "k") -> int:
    """A number of clusters ``2 <= k <= num_nodes``."""
    if not is_int(k):
        raise ValueError(f"{name} must be an integer number of clusters, got {k!r}")
    if k < 2:
        raise ValueError(f"{name} must be at least 2 clusters, got {name}={k}")
    if k > num_nodes:
        raise ValueError(f"{name}={k} clusters cannot be formed from N={num_nodes} nodes: need k <= N")
    return int(k)


def check_num_neighbors(num_neighbors: object) -> list:
    """A ``NeighborLoader`` fan-out: a non-empty list of positive integers or ``-1`` (all)."""
    if (not isinstance(num_neighbors, (list, tuple)) or not num_neighbors
            or not all(is_int(m) and (m == -1 or m >= 1) for m in num_neighbors)):
        raise ValueError(f"num_neighbors must be a non-empty list of positive integers (or -1 for all), "
                         f"got {num_neighbors!r}")
    return [int(m) for m in num_neighbors]


def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value  # type: ignore[return-value]
