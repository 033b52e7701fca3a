"""Tests of neuncut_pyg.knn: the self-tuning kNN graph and out-of-sample assignment of vectors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from sklearn.datasets import make_blobs

from neuncut_pyg.knn import MLPEncoder, fit_vectors, knn_graph_from_vectors, predict_vectors
from neuncut_pyg.metrics import nmi
from neuncut_pyg.models import NeuNcut

pytestmark = pytest.mark.usefixtures("one_torch_thread")




def dense_reference(x, k, m):
    """The same graph from the full distance matrix (tests only)."""
    d = cdist(x, x)
    np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1)[:, :k]
    sigma = np.take_along_axis(d, order, axis=1)[:, m - 1]
    w = np.zeros_like(d)
    for i in range(len(x)):
        for j in order[i]:
            w[i, j] = w[j, i] = np.exp(-d[i, j] ** 2 / (sigma[i] * sigma[j]))
    return w


@pytest.mark.parametrize("k, m", [(3, None), (5, 2)])
def test_knn_graph_matches_dense_definition(k, m):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    edge_index, edge_weight = knn_graph_from_vectors(x, k, scale_neighbor=m)
    w = np.zeros((40, 40))
    w[edge_index[0].numpy(), edge_index[1].numpy()] = edge_weight.numpy()
    np.testing.assert_allclose(w, dense_reference(x, k, m or k), rtol=1e-5, atol=1e-7)
    assert edge_index.dtype == torch.long and edge_weight.dtype == torch.float32
    assert not bool((edge_index[0] == edge_index[1]).any())
    assert bool((edge_weight > 0).all()) and bool((edge_weight <= 1).all())
    degree = torch.bincount(edge_index[0], minlength=40)
    assert bool((degree >= k).all())  # each point keeps its k neighbours after symmetrization


def test_knn_graph_duplicate_points_and_tensor_input():
    x = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [5.0, 6.0], [6.0, 5.0]])
    edge_index, edge_weight = knn_graph_from_vectors(x, k=2)
    assert not bool((edge_index[0] == edge_index[1]).any())
    assert bool(torch.isfinite(edge_weight).all())
    # identical points are joined with weight 1
    pairs = {tuple(e) for e in edge_index.t().tolist()}
    assert (0, 1) in pairs and (1, 0) in pairs


@pytest.mark.parametrize(
    "x, k, match",
    [
        (np.zeros((5, 2)), 5, "k must be"),
        (np.zeros((5, 2)), 0, "k must be"),
        (np.zeros(5), 2, "2-D"),
        (np.array([[0.0, np.nan], [1.0, 1.0], [2.0, 2.0]]), 1, "NaN"),
        (np.zeros((0, 2)), 1, "empty"),
    ],
)
def test_knn_graph_bad_input(x, k, match):
    with pytest.raises(ValueError, match=match):
        knn_graph_from_vectors(x, k)


def test_knn_graph_bad_scale_neighbor():
    with pytest.raises(ValueError, match="scale_neighbor"):
        knn_graph_from_vectors(np.random.rand(10, 2), 3, scale_neighbor=4)


def test_mlp_encoder_ignores_the_graph():
    torch.manual_seed(0)
    encoder = MLPEncoder(4, 8, 6)
    x = torch.randn(5, 4)
    out = encoder(x, torch.tensor([[0, 1], [1, 0]]), torch.ones(2))
    assert out.shape == (5, 6)
    assert torch.equal(out, encoder(x, None))


# Measured over seeds 0-7 (NMI of the 200 training points / of the 60 new ones): 1.000 / 1.000
# on six seeds, 0.920 / 1.000 on seed 7, and 0.778 / 0.790 on seed 5, where all three runs
# stalled (best loss 0.086 against 0.000). Over KNN_SEEDS every run must end above MIN_RUN_NMI
# and the mean above MIN_MEAN_NMI (one stalled seed in five leaves the mean at 0.96).
KNN_SEEDS = range(5)
MIN_RUN_NMI = 0.7
MIN_MEAN_NMI = 0.9


def test_fit_vectors_clusters_blobs_and_assigns_new_points_alone():
    x, y = make_blobs(n_samples=260, centers=[[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]], cluster_std=1.0, random_state=0)
    x_train, y_train, x_new, y_new = x[:200], y[:200], x[200:], y[200:]
    seen, unseen = [], []
    for seed in KNN_SEEDS:
        model = fit_vectors(x_train, 3, n_neighbors=8, hidden_channels=32, epochs=150, lr=1e-2, seed=seed)
        assert isinstance(model.encoder.net, MLPEncoder)
        seen.append(nmi(y_train, predict_vectors(model, x_train).argmax(-1)))
        together = predict_vectors(model, x_new)
        unseen.append(nmi(y_new, together.argmax(-1)))
        if seed == KNN_SEEDS[0]:
            # New points, one at a time: a forward pass without any graph
            single = torch.cat([predict_vectors(model, x_new[i : i + 1]) for i in range(len(x_new))])
            assert torch.allclose(single, together, atol=1e-6)
            # Equal seeds, equal models
            again = fit_vectors(x_train, 3, n_neighbors=8, hidden_channels=32, epochs=150, lr=1e-2, seed=seed)
            assert torch.allclose(predict_vectors(again, x_new), together)
    for scores in (seen, unseen):
        assert min(scores) > MIN_RUN_NMI and sum(scores) / len(scores) > MIN_MEAN_NMI, (seen, unseen)


def test_predict_vectors_rejects_graph_encoders():
    with pytest.raises(ValueError, match="MLPEncoder"):
        predict_vectors(NeuNcut(2, 2), np.zeros((3, 2)))
