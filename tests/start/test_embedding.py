"""The start's spectral embedding of feature rows against its dense formula, and the sampled
k-means that partitions it (:mod:`neuncut_pyg.start.embedding`)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from neuncut_pyg.metrics import nmi
from neuncut_pyg.start import embedding, feature_spectral_embedding, smoothed_feature_clustering

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def dense_embedding_projector(x: np.ndarray, k: int) -> np.ndarray:
    """The projector onto the top-k eigenvectors of D^-1/2 K D^-1/2, K the (shifted) cosine kernel,
    formed densely as the docstring of feature_spectral_embedding writes it."""
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    kernel = xn @ xn.T + (1.0 if (x < 0).any() else 0.0)
    inv_sqrt = 1 / np.sqrt(kernel.sum(1))
    values, vectors = np.linalg.eigh(inv_sqrt[:, None] * kernel * inv_sqrt[None, :])
    top = vectors[:, -k:]
    top = top / np.linalg.norm(top, axis=1, keepdims=True)
    return top @ np.linalg.pinv(top)


def projector(embedding: np.ndarray) -> np.ndarray:
    return embedding @ np.linalg.pinv(embedding)


def clustered_features(n: int, f: int, k: int, signed: bool, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, f)) if signed else rng.uniform(size=(k, f)) ** 4
    labels = np.arange(n) % k
    x = centers[labels] + 0.3 * rng.normal(size=(n, f))
    return x if signed else np.abs(x)


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("path", ["gram", "arpack"])
def test_embedding_spans_the_dense_kernel_eigenvectors(signed, path, monkeypatch):
    # Row-normalizing a basis rotated by an orthogonal matrix gives the rotated row-normalized
    # basis, so both embeddings must span the same subspace as the dense formula's.
    monkeypatch.setattr(embedding, "_GRAM_MAX_FEATURES", 10_000 if path == "gram" else 0)
    x = clustered_features(80, 30, 4, signed)
    emb = feature_spectral_embedding(torch.from_numpy(x), 4, seed=1)
    assert emb.shape == (80, 4)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-10)
    np.testing.assert_allclose(projector(emb), dense_embedding_projector(x, 4), atol=1e-6)


def test_embedding_of_low_rank_features_drops_empty_directions():
    x = torch.zeros(30, 3)
    x[:10, 0], x[10:20, 1], x[20:, 2] = 1.0, 1.0, 1.0  # three orthogonal directions, k = 5
    emb = feature_spectral_embedding(x, 5)
    assert emb.shape == (30, 3) and np.isfinite(emb).all()
    assert len({tuple(np.round(row, 6)) for row in emb}) == 3


def test_embedding_keeps_zero_feature_rows_finite():
    x = torch.rand(20, 5)
    x[3] = 0.0
    emb = feature_spectral_embedding(x, 3)
    assert np.isfinite(emb).all() and np.allclose(emb[3], 0.0)


@pytest.mark.parametrize("bad, match", [
    (torch.tensor([[1.0, float("nan")], [0.0, 1.0], [1.0, 1.0]]), "NaN"),
    (torch.zeros(0, 3), "non-empty"),
    (torch.ones(5), "non-empty 2-D"),
])
def test_embedding_rejects_bad_features(bad, match):
    with pytest.raises(ValueError, match=match):
        feature_spectral_embedding(bad, 2)


def test_embedding_rejects_bad_k():
    with pytest.raises(ValueError, match="at least 2"):
        feature_spectral_embedding(torch.rand(5, 3), 1)
    with pytest.raises(ValueError, match="k <= N"):
        feature_spectral_embedding(torch.rand(5, 3), 6)


def test_sampled_kmeans_matches_the_full_one(six_communities, monkeypatch):
    fits = []
    original = embedding.KMeans

    class Spy(original):
        def fit(self, X, *args, **kwargs):
            if self.n_clusters == 6:  # the start's k-means, not the refinement's bisections
                fits.append((len(X), self.n_init, self.max_iter))
            return super().fit(X, *args, **kwargs)

    monkeypatch.setattr(embedding, "KMeans", Spy)
    full = smoothed_feature_clustering(six_communities.x, six_communities.edge_index, 6, steps=[4], seed=0, kmeans_sample_size=None)
    assert fits == [(1200, 10, 300)]
    fits.clear()
    sampled = smoothed_feature_clustering(six_communities.x, six_communities.edge_index, 6, steps=[4], seed=0, kmeans_sample_size=300)
    # The restarts see 300 rows; one short Lloyd run over all 1200 rows gives every node a label.
    assert fits == [(300, 10, 300), (1200, 1, embedding._FULL_LLOYD_ITERATIONS)]
    assert sampled.labels.shape == (1200,) and set(np.unique(sampled.labels)) <= set(range(6))
    assert nmi(full.labels, sampled.labels) > 0.9
    assert sampled.modularity > full.modularity - 0.02
    # Graphs no larger than the sample take the plain path.
    fits.clear()
    smoothed_feature_clustering(six_communities.x, six_communities.edge_index, 6, steps=[4], seed=0, kmeans_sample_size=1200)
    assert fits == [(1200, 10, 300)]
