"""The core schedule of the start (:mod:`neuncut_pyg.start.core`): centre margins against their
definition, the core of each cluster, and the share of the cores each run is fitted to."""
from __future__ import annotations

import numpy as np
import pytest

from neuncut_pyg.start import core, embedding

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def clustered_features(n: int, f: int, k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, f))
    return centers[np.arange(n) % k] + 0.3 * rng.normal(size=(n, f))


def brute_force_margins(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    present = np.unique(labels)
    centres = {c: points[labels == c].mean(0) for c in present}
    out = np.empty(len(labels))
    for i, (p, c) in enumerate(zip(points, labels)):
        own = ((p - centres[c]) ** 2).sum()
        out[i] = min(((p - centres[o]) ** 2).sum() for o in present if o != c) - own
    return out


def test_centre_margins_match_their_definition(monkeypatch):
    monkeypatch.setattr(embedding, "ROW_CHUNK", 7)  # several row blocks
    rng = np.random.default_rng(0)
    points = rng.normal(size=(50, 3))
    labels = rng.choice([0, 2, 5], size=50)  # gaps in the label values
    np.testing.assert_allclose(core.centre_margins(points, labels), brute_force_margins(points, labels),
                               atol=1e-10)


def test_centre_margins_of_a_kmeans_partition_are_non_negative():
    from sklearn.cluster import KMeans

    points = clustered_features(120, 4, 3)
    labels = KMeans(3, n_init=3, random_state=0).fit_predict(points)
    assert (core.centre_margins(points, labels) >= -1e-9).all()


def test_centre_margins_of_one_cluster_are_infinite():
    assert np.isinf(core.centre_margins(np.zeros((4, 2)), np.zeros(4, dtype=np.int64))).all()


@pytest.mark.parametrize("points, labels, match", [
    (np.zeros((4, 2)), np.zeros(3, dtype=np.int64), "shapes"),
    (np.zeros((4, 2)), -np.ones(4, dtype=np.int64), "non-negative"),
    (np.zeros((4, 2)), np.zeros(4), "non-negative integers"),
    (np.full((4, 2), np.nan), np.arange(4) % 2, "NaN"),
])
def test_centre_margins_reject_bad_input(points, labels, match):
    with pytest.raises(ValueError, match=match):
        core.centre_margins(points, labels)


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.9, 1.0])
def test_partition_core_keeps_the_deepest_share_of_each_cluster(fraction):
    rng = np.random.default_rng(1)
    labels = rng.choice([0, 1, 3], size=61, p=[0.6, 0.3, 0.1])
    margins = rng.normal(size=61)
    kept = core.partition_core(labels, margins, fraction)
    assert kept.dtype == bool and kept.shape == (61,)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        expected = members[np.argsort(-margins[members])][: int(np.ceil(fraction * members.size))]
        np.testing.assert_array_equal(np.flatnonzero(kept & (labels == c)), np.sort(expected))


def test_partition_core_keeps_a_node_of_every_cluster():
    labels = np.array([0, 0, 0, 0, 1, 2, 2])
    kept = core.partition_core(labels, np.arange(7.0), 0.01)
    assert set(labels[kept]) == {0, 1, 2} and kept.sum() == 3


@pytest.mark.parametrize("fraction, margins, match", [
    (0.0, np.zeros(3), "fraction"), (1.5, np.zeros(3), "fraction"), (True, np.zeros(3), "fraction"),
    (0.5, np.zeros(2), "shapes"), (0.5, np.array([0.0, np.nan, 1.0]), "NaN"),
])
def test_partition_core_rejects_bad_input(fraction, margins, match):
    with pytest.raises(ValueError, match=match):
        core.partition_core(np.array([0, 1, 1]), margins, fraction)


def test_core_fractions_halve_the_share_run_by_run():
    assert core.core_fractions(1) == [1.0]
    assert core.core_fractions(4) == [1.0, 0.5, 0.25, 0.125]
    assert core.core_fractions(3, shrink=1.0) == [1.0, 1.0, 1.0]  # every run fits the whole start
    assert core.core_fractions(3) == [core.CORE_SHRINK ** r for r in range(3)]
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="n_init"):
            core.core_fractions(bad)
    for shrink in (0.0, 1.5):
        with pytest.raises(ValueError, match="shrink"):
            core.core_fractions(2, shrink=shrink)
