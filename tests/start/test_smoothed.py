"""The spectral clustering of graph-smoothed features, the start of ``NeuNcut.fit``
(:mod:`neuncut_pyg.start.smoothed`): recovery, the depth search, seeding, the Adj forms, its
margins and features, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.utils import to_undirected

from neuncut_pyg import NeuNcut
from neuncut_pyg.metrics import modularity, nmi
from neuncut_pyg.propagation import propagate_features
from neuncut_pyg.start import SmoothedFeatureClustering, core, smoothed, smoothed_feature_clustering

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_smoothed_clustering_recovers_planted_communities(six_communities):
    result = smoothed_feature_clustering(six_communities.x, six_communities.edge_index, 6, seed=0)
    assert isinstance(result, SmoothedFeatureClustering)
    assert 2 <= result.steps <= 16
    assert result.labels.shape == (1200,) and result.labels.dtype == np.int64
    assert result.modularity == pytest.approx(modularity(result.labels, six_communities.edge_index))
    assert nmi(six_communities.y, result.labels) > 0.8
    # Smoothing is what does it: the features alone (depth 0) score far lower.
    raw = smoothed_feature_clustering(six_communities.x, six_communities.edge_index, 6, steps=[0], seed=0)
    assert raw.steps == 0 and nmi(six_communities.y, raw.labels) < nmi(six_communities.y, result.labels) - 0.2


def test_smoothed_clustering_picks_the_most_modular_depth(six_communities):
    scores = {d: smoothed_feature_clustering(six_communities.x, six_communities.edge_index, 6, steps=[d], seed=0).modularity
              for d in (1, 4)}
    best = smoothed_feature_clustering(six_communities.x, six_communities.edge_index, 6, steps=[4, 1], refine=False, seed=0)
    assert best.steps == max(scores, key=scores.get)
    assert best.modularity == pytest.approx(max(scores.values()))


def test_refinement_searches_between_the_candidates(six_communities, monkeypatch):
    tried = []
    original = smoothed.feature_spectral_embedding

    def spy(features, k, *, seed=0):
        tried.append(features)
        return original(features, k, seed=seed)

    curve = {d: smoothed_feature_clustering(six_communities.x, six_communities.edge_index, 6, steps=[d], seed=0).modularity
             for d in range(0, 9)}
    monkeypatch.setattr(smoothed, "feature_spectral_embedding", spy)
    best = smoothed_feature_clustering(six_communities.x, six_communities.edge_index, 6, steps=[0, 8], seed=0)
    # Depths strictly between the two candidates were tried, fewer than all of them...
    assert 2 < len(tried) < 9
    # ...and the result is the best depth tried, at least as modular as both candidates.
    assert best.modularity == pytest.approx(curve[best.steps])
    assert best.modularity >= max(curve[0], curve[8]) - 1e-12
    if 0 < best.steps < 8:
        assert best.modularity >= max(curve[best.steps - 1], curve[best.steps + 1]) - 1e-12  # a local peak


def test_smoothed_clustering_is_seeded(six_communities):
    a = smoothed_feature_clustering(six_communities.x, six_communities.edge_index, 6, steps=[2], seed=5)
    b = smoothed_feature_clustering(six_communities.x, six_communities.edge_index, 6, steps=[2], seed=5)
    np.testing.assert_array_equal(a.labels, b.labels)


@pytest.mark.parametrize("size", [5, 0, 2.5, True, "100"])
def test_smoothed_clustering_rejects_bad_sample_size(six_communities, size):
    with pytest.raises(ValueError, match="kmeans_sample_size"):
        smoothed_feature_clustering(six_communities.x, six_communities.edge_index, 6, kmeans_sample_size=size)


@pytest.mark.parametrize("steps", [[], [-1], [1.5], "2"])
def test_smoothed_clustering_rejects_bad_steps(six_communities, steps):
    with pytest.raises(ValueError, match="steps"):
        smoothed_feature_clustering(six_communities.x, six_communities.edge_index, 6, steps=steps)


def test_smoothed_clustering_rejects_bad_k(six_communities):
    with pytest.raises(ValueError, match="at least 2"):
        smoothed_feature_clustering(six_communities.x, six_communities.edge_index, 1)
    with pytest.raises(ValueError, match="k <= N"):
        smoothed_feature_clustering(six_communities.x[:10], six_communities.edge_index[:, :0], 11)


def test_spectral_start_on_an_undirected_copy_matches(six_communities):
    # The start reads the graph through the same Adj forms as the loss: a SparseTensor adj_t
    # gives the partition edge_index gives.
    from torch_sparse import SparseTensor

    ei = to_undirected(six_communities.edge_index)
    adj_t = SparseTensor(row=ei[1], col=ei[0], sparse_sizes=(1200, 1200))
    a = smoothed_feature_clustering(six_communities.x, ei, 6, steps=[2], seed=0)
    b = smoothed_feature_clustering(six_communities.x, adj_t, 6, steps=[2], seed=0)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_degenerate_start_is_quiet():
    # A cycle with constant features makes every smoothed row alike: the start has one cluster,
    # which k-means would warn about from inside fit. fit completes without that warning.
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from torch_geometric.data import Data

    n = 12
    src = torch.arange(n)
    ring = torch.stack([torch.cat([src, (src + 1) % n]), torch.cat([(src + 1) % n, src])])
    data = Data(x=torch.ones(n, 1), edge_index=ring)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = NeuNcut(1, 2).fit(data, epochs=5, n_init=1, seed=0, init="spectral", progress=False)
    assert model.init_ == "spectral" and len(np.unique(model.init_clustering_.labels)) == 1
    assert model.predict(data).shape == (n,)


def test_smoothed_clustering_returns_the_margins_of_its_partition(six_communities):
    result = smoothed_feature_clustering(six_communities.x, six_communities.edge_index, 6, steps=[2], seed=0)
    assert result.margins.shape == (six_communities.num_nodes,) and np.isfinite(result.margins).all()
    # The deepest quarter of each cluster is purer than the whole partition.
    kept = core.partition_core(result.labels, result.margins, 0.25)
    assert nmi(six_communities.y[kept], result.labels[kept]) >= nmi(six_communities.y, result.labels)


def test_start_returns_the_features_of_its_depth(four_communities):
    result, features = smoothed_feature_clustering(four_communities.x, four_communities.edge_index, 4, seed=0, return_features=True)
    assert torch.allclose(features, propagate_features(four_communities.x, four_communities.edge_index, steps=result.steps), atol=1e-5)
    assert nmi(four_communities.y, torch.as_tensor(result.labels)) > 0.7


def test_large_graph_start_scores_the_grid_only(four_communities, monkeypatch):
    tried = []
    original = smoothed.smoothed_feature_clustering

    def spy(*args, **kwargs):
        tried.append(kwargs["refine"])
        return original(*args, **kwargs)

    monkeypatch.setattr(smoothed, "smoothed_feature_clustering", spy)
    NeuNcut(16, 4, encoder="mlp").fit(four_communities, epochs=1, n_init=1, seed=0, progress=False)
    monkeypatch.setattr(smoothed, "START_REFINE_MAX_NODES", 599)
    NeuNcut(16, 4, encoder="mlp").fit(four_communities, epochs=1, n_init=1, seed=0, progress=False)
    assert tried == [True, False]
