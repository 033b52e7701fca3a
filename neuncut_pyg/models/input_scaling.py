r"""The scaling of a propagated input (``NeuNcut(encoder="mlp")``'s, and a GNN encoder's in
mini-batch fits): rows of the propagated features scaled to unit length, then each column
standardized with the training graph's statistics.

After :math:`K` smoothing steps every column is close to a multiple of the graph's dominant
eigenvector (rows scale with :math:`\sqrt{d_i}`) plus small cluster-specific deviations, and an
MLP at Adam's step sizes learns little from inputs on that scale (``docs/defaults.md``).
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

__all__ = ["InputScaling", "unit_rows", "column_moments"]

# Standard deviations at or below this leave a column unscaled: a constant column carries nothing.
_MIN_SCALE = 1e-12


def unit_rows(features: Tensor, *, in_place: bool) -> Tensor:
    """Rows scaled to unit Euclidean length (zero rows stay zero); a new tensor unless ``in_place``."""
    norms = features.norm(dim=1, keepdim=True)
    norms[norms == 0] = 1.0
    return features.div_(norms) if in_place else features / norms


def column_moments(features: Tensor, chunk: int = 65536) -> Tuple[Tensor, Tensor]:
    """Column means and standard deviations ``[F]`` in float64, accumulated over row chunks: sums
    over millions of rows lose digits in float32, and a float64 copy of the whole matrix would
    cost GBs on large graphs."""
    total = torch.zeros(features.size(1), dtype=torch.float64, device=features.device)
    squares = torch.zeros_like(total)
    for rows in features.split(chunk):
        rows = rows.to(torch.float64)
        total += rows.sum(dim=0)
        squares += (rows * rows).sum(dim=0)
    n = features.size(0)
    mean = total / n
    var = (squares / n - mean * mean).clamp_min(0.0) * (n / max(n - 1, 1))
    return mean, var.sqrt()


class InputScaling(torch.nn.Module):
    r"""The fitted state of a propagated input, kept as buffers (saved with the parameters and
    applied unchanged to every graph the model sees later): the propagation depth :math:`K` in
    use, and the column shift and scale of the unit rows on the training graph."""

    def __init__(self, in_channels: int, steps: int) -> None:
        super().__init__()
        self.register_buffer("steps", torch.tensor(steps))
        self.register_buffer("shift", torch.zeros(in_channels, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(in_channels, dtype=torch.float64))

    @property
    def depth(self) -> int:
        """The propagation depth :math:`K` the input is computed at."""
        return int(self.steps)

    def fit_transform(self, features: Tensor, steps: int) -> Tensor:
        """Fits the statistics to ``features`` (propagated ``steps`` times) and scales them."""
        self.steps.fill_(steps)
        rows = unit_rows(features, in_place=steps > 0)  # zero steps may be the user's x itself
        shift, scale = column_moments(rows)
        scale[~(scale > _MIN_SCALE)] = 1.0
        self.shift.copy_(shift)
        self.scale.copy_(scale)
        return self._shift_and_scale(rows)

    def forward(self, features: Tensor) -> Tensor:
        """Scales features propagated to :attr:`depth` steps with the fitted statistics."""
        return self._shift_and_scale(unit_rows(features, in_place=self.depth > 0))

    def _shift_and_scale(self, rows: Tensor) -> Tensor:
        return rows.sub_(self.shift.to(rows.dtype)).div_(self.scale.to(rows.dtype))
