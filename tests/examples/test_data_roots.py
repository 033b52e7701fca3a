"""The examples that read a dataset find it the same way: ``--root``, else ``$NEUNCUT_DATA``, else
``datasets/`` of the checkout (beside ``examples/``, whatever the working directory)."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, load_example


@pytest.mark.parametrize("name", ["cora", "inductive", "ogbn"])
def test_data_root_is_the_option_then_the_variable_then_the_checkouts_datasets(name, monkeypatch):
    example = load_example(name)
    monkeypatch.delenv("NEUNCUT_DATA", raising=False)
    assert example.data_root(None) == REPO / "datasets"
    monkeypatch.setenv("NEUNCUT_DATA", "/somewhere")
    assert example.data_root(None) == Path("/somewhere")
    assert example.data_root(Path("/explicit")) == Path("/explicit")
