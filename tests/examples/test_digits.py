"""examples/digits.py: NeuNcut on vectors assigns held-out digits by a forward pass of its MLP."""
from __future__ import annotations

import math

import pytest
from conftest import load_example

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROWS = ["NeuNcut train (70%)", "NeuNcut held-out (30%, forward pass)",
        "Spectral train (70%)", "Spectral held-out (30%, refit on it)"]


@pytest.fixture(scope="module")
def digits():
    return load_example("digits")


def test_quick_run_prints_both_methods_on_both_parts(digits, capsys):
    results = digits.run(epochs=60, n_init=1, quick=True)
    out = capsys.readouterr().out
    assert list(results) == ROWS
    for name in ROWS:
        assert name in out
        assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in results[name].values())
    # Measured on this quick run: NMI 0.76 (train) and 0.72 (held-out); chance is about 0.
    assert results["NeuNcut train (70%)"]["NMI"] > 0.55
    assert results["NeuNcut held-out (30%, forward pass)"]["NMI"] > 0.55


@pytest.mark.slow
def test_full_run_held_out_points_are_assigned_as_well_as_training_points(digits, capsys):
    results = digits.run()
    # Measured (seed 0): NeuNcut NMI 0.752 train / 0.744 held-out; spectral 0.820 / 0.715.
    train, held_out = results["NeuNcut train (70%)"]["NMI"], results["NeuNcut held-out (30%, forward pass)"]["NMI"]
    assert held_out > 0.68 and train > 0.68
    assert abs(train - held_out) < 0.05
