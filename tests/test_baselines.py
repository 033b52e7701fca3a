"""Spectral clustering and feature k-means baselines."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch_geometric.utils import stochastic_blockmodel_graph
from torch_sparse import SparseTensor

from neuncut_pyg.baselines import kmeans_features, normalized_adjacency, spectral_clustering
from neuncut_pyg.metrics import nmi, normalized_cut

BLOCK_SIZES = [60, 60, 60]


@pytest.fixture(scope="module")
def planted_partition():
    """Three blocks of 60 nodes, p_in = 0.3, p_out = 0.01: (edge_index, block of each node)."""
    torch.manual_seed(0)
    probs = torch.full((3, 3), 0.01)
    probs.fill_diagonal_(0.3)
    edge_index = stochastic_blockmodel_graph(BLOCK_SIZES, probs)
    blocks = torch.arange(3).repeat_interleave(torch.tensor(BLOCK_SIZES))
    return edge_index, blocks


def test_spectral_recovers_planted_blocks(planted_partition):
    edge_index, blocks = planted_partition
    labels = spectral_clustering(edge_index, 180, 3)
    assert labels.shape == (180,) and labels.dtype == np.int64
    assert set(labels.tolist()) == {0, 1, 2}
    assert nmi(blocks, labels) > 0.95
    # The recovered partition cuts little: a random 3-way split of this graph cuts far more.
    random_split = np.random.default_rng(0).integers(0, 3, 180)
    assert normalized_cut(labels, edge_index) < 0.5 * normalized_cut(random_split, edge_index)


def test_spectral_is_deterministic_for_a_seed(planted_partition):
    edge_index, _ = planted_partition
    # More clusters than blocks, so that k-means has real choices to make.
    first = spectral_clustering(edge_index, 180, 5, seed=3)
    second = spectral_clustering(edge_index, 180, 5, seed=3)
    np.testing.assert_array_equal(first, second)


def test_spectral_accepts_every_adj_form_and_weights(planted_partition):
    edge_index, blocks = planted_partition
    weight = torch.full((edge_index.size(1),), 2.5)
    reference = spectral_clustering(edge_index, 180, 3)
    sparse = SparseTensor(row=edge_index[0], col=edge_index[1], sparse_sizes=(180, 180))
    np.testing.assert_array_equal(spectral_clustering(sparse, 180, 3), reference)
    # Scaling every weight leaves D^-1/2 W D^-1/2 unchanged (up to round-off: compare partitions).
    scaled = spectral_clustering(edge_index, 180, 3, edge_weight=weight)
    assert nmi(reference, scaled) == pytest.approx(1.0)
    assert nmi(blocks, scaled) > 0.95


def test_normalized_adjacency_matches_dense_definition():
    # A directed weighted graph with node 4 isolated: symmetrized, and a zero row for node 4.
    edge_index = torch.tensor([[0, 1, 2, 3, 0], [1, 2, 3, 0, 2]])
    weight = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5])
    w = np.zeros((5, 5))
    w[edge_index[0].numpy(), edge_index[1].numpy()] = weight.numpy()
    w = 0.5 * (w + w.T)
    deg = w.sum(1)
    inv_sqrt = np.where(deg > 0, 1 / np.sqrt(np.where(deg > 0, deg, 1)), 0.0)
    expected = inv_sqrt[:, None] * w * inv_sqrt[None, :]
    result = normalized_adjacency(edge_index, 5, weight)
    np.testing.assert_allclose(result.toarray(), expected, rtol=1e-12)
    assert np.all(result.toarray()[4] == 0)
    assert np.linalg.eigvalsh(result.toarray()).max() == pytest.approx(1.0)


def test_spectral_handles_isolated_nodes_and_tiny_graphs():
    # Two triangles and two isolated nodes; k = N goes through the dense eigensolver.
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 0, 3, 4, 4, 5, 5, 3], [1, 0, 2, 1, 0, 2, 4, 3, 5, 4, 3, 5]])
    labels = spectral_clustering(edge_index, 8, 2)
    assert labels.shape == (8,)
    assert len(set(labels[:3])) == 1 and len(set(labels[3:6])) == 1 and labels[0] != labels[3]
    assert sorted(spectral_clustering(edge_index, 8, 8, n_init=1).tolist()) == list(range(8))


@pytest.mark.parametrize("k", [1, 0, 181, 2.5, True])
def test_spectral_rejects_bad_k(planted_partition, k):
    edge_index, _ = planted_partition
    with pytest.raises(ValueError, match="k"):
        spectral_clustering(edge_index, 180, k)


def test_spectral_rejects_bad_graph_and_arguments():
    with pytest.raises(ValueError, match="node indices"):
        spectral_clustering(torch.tensor([[0, 5], [5, 0]]), 4, 2)
    with pytest.raises(ValueError, match="num_nodes"):
        spectral_clustering(torch.tensor([[0, 1], [1, 0]]), 0, 2)
    with pytest.raises(ValueError, match="n_init"):
        spectral_clustering(torch.tensor([[0, 1], [1, 0]]), 4, 2, n_init=0)


def test_kmeans_features_separates_blobs_and_is_deterministic():
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    truth = np.repeat(np.arange(3), 40)
    x = centers[truth] + rng.normal(scale=0.5, size=(120, 3))
    labels = kmeans_features(torch.from_numpy(x).float(), 3)
    assert labels.dtype == np.int64 and labels.shape == (120,)
    assert nmi(truth, labels) == pytest.approx(1.0)
    np.testing.assert_array_equal(kmeans_features(x, 4, seed=1), kmeans_features(torch.from_numpy(x), 4, seed=1))


@pytest.mark.parametrize(
    "x,k,message",
    [
        (np.zeros(10), 2, "2-D"),
        (np.zeros((0, 3)), 2, "empty"),
        (np.array([[0.0], [np.nan], [1.0]]), 2, "NaN"),
        (np.zeros((5, 2)), 1, "at least 2"),
        (np.zeros((5, 2)), 6, "k <= N"),
    ],
)
def test_kmeans_features_rejects_bad_input(x, k, message):
    with pytest.raises(ValueError, match=message):
        kmeans_features(x, k)


@pytest.mark.slow
def test_spectral_scales_to_ogbn_arxiv_size():
    """170k nodes, 1.2M stored edges, 40 planted blocks: sparse throughout, well under a minute."""
    num_nodes, k = 169_343, 40
    generator = torch.Generator().manual_seed(0)
    blocks = torch.randint(0, k, (num_nodes,), generator=generator)
    # 500k edges inside blocks (an endpoint and a random member of its block), 100k at random.
    order = torch.argsort(blocks)
    sizes = torch.bincount(blocks, minlength=k)
    starts = torch.cumsum(sizes, 0) - sizes
    src = torch.randint(0, num_nodes, (500_000,), generator=generator)
    offset = (torch.rand(500_000, generator=generator) * sizes[blocks[src]]).long()
    dst = order[starts[blocks[src]] + offset]
    noise = torch.randint(0, num_nodes, (2, 100_000), generator=generator)
    edge_index = torch.cat([torch.stack([src, dst]), noise], 1)
    edge_index = torch.cat([edge_index, edge_index.flip(0)], 1)

    start = time.perf_counter()
    labels = spectral_clustering(edge_index, num_nodes, k, n_init=3)
    elapsed = time.perf_counter() - start
    assert nmi(blocks, labels) > 0.9
    assert elapsed < 120


def test_regularized_adjacency_matches_dense_definition():
    # W + tau/N 11^T with degrees d + tau, applied implicitly, equals the dense matrix.
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])
    n, tau = 6, 1.5  # node 5 isolated
    op = normalized_adjacency(edge_index, n, regularization=tau)
    w = np.zeros((n, n))
    w[edge_index[0].numpy(), edge_index[1].numpy()] = 1.0
    w_tau = w + tau / n
    d = w_tau.sum(1)
    expected = w_tau / np.sqrt(np.outer(d, d))
    assert np.allclose(op @ np.eye(n), expected)
    assert np.allclose(op.matvec(np.arange(n, dtype=float)), expected @ np.arange(n))


def test_regularization_recovers_blocks_despite_isolated_components(planted_partition):
    # Ten extra isolated node pairs: plain NJW spends eigenvectors on the components, the
    # regularized default still finds the three blocks.
    edge_index, blocks = planted_partition
    extra = torch.arange(180, 200).view(-1, 2).t()
    edge_index = torch.cat([edge_index, extra, extra.flip(0)], dim=1)
    labels = spectral_clustering(edge_index, 200, 3)
    assert nmi(blocks, labels[:180]) > 0.9
    plain = spectral_clustering(edge_index, 200, 3, regularization=0)
    assert nmi(blocks, plain[:180]) < nmi(blocks, labels[:180])


@pytest.mark.parametrize("value", [-1.0, float("nan"), "mean"])
def test_spectral_rejects_bad_regularization(planted_partition, value):
    edge_index, _ = planted_partition
    with pytest.raises(ValueError, match="regularization"):
        spectral_clustering(edge_index, 180, 3, regularization=value)
