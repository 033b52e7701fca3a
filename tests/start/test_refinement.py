"""Merge-split refinement of a partition: its moves against brute force over the metrics'
formulas, the mistake it exists to undo, the degenerate moves it must refuse, and bad input."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch_geometric.utils import to_undirected

from neuncut_pyg.start import refinement, smoothed_feature_clustering
from neuncut_pyg.generators import planted_partition_graph
from neuncut_pyg.metrics import modularity, nmi, normalized_cut
from neuncut_pyg.start.refinement import MergeSplitRefinement, merge_split_refinement

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def block_graph(sizes, p_in, p_out, seed=0):
    """A dense-enough random graph with planted blocks of the given sizes."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(sizes)), sizes)
    n = y.size
    i, j = np.triu_indices(n, 1)
    p = np.where(y[i] == y[j], p_in, p_out)
    keep = rng.random(p.size) < p
    edge_index = to_undirected(torch.from_numpy(np.stack([i[keep], j[keep]])), num_nodes=n)
    return edge_index, y


def one_hot_embedding(y, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    return np.eye(y.max() + 1)[y] + noise * rng.normal(size=(y.size, y.max() + 1))


def test_undoes_a_halved_large_community_and_two_merged_small_ones():
    # The k-means mistake on communities of unequal size: the big one halved, two small merged.
    edge_index, y = block_graph([240, 60, 60, 60], 0.15, 0.01)
    wrong = y.copy()
    wrong[(y == 0) & (np.arange(y.size) % 2 == 1)] = 3  # half of the big community...
    wrong[y == 3] = 2  # ...takes the id of a small one, merged into another small one
    before = (normalized_cut(wrong, edge_index), modularity(wrong, edge_index))
    result = merge_split_refinement(wrong, edge_index, one_hot_embedding(y))
    assert isinstance(result, MergeSplitRefinement)
    assert result.moves == 1
    assert nmi(y, result.labels) == pytest.approx(1.0)
    assert result.ncut == pytest.approx(normalized_cut(result.labels, edge_index))
    assert result.modularity == pytest.approx(modularity(result.labels, edge_index))
    assert result.ncut < before[0] and result.modularity > before[1]
    assert result.labels.dtype == np.int64 and set(np.unique(result.labels)) == {0, 1, 2, 3}


def test_each_move_is_the_best_triple_by_the_metrics(monkeypatch):
    # With a fixed bisection rule, every (merge a, b; split c) partition can be scored by the
    # metrics module directly: the move taken must be the one of lowest Ncut among those that
    # also raise the modularity.
    edge_index, _ = block_graph([30, 30, 25, 20, 15], 0.3, 0.05, seed=1)
    n = 120
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, n)
    embedding = rng.normal(size=(n, 3))
    bisect = lambda points, seed: (points[:, 0] > np.median(points[:, 0])).astype(np.int64)  # noqa: E731
    monkeypatch.setattr(refinement, "_bisect", bisect)
    sides = np.zeros(n, dtype=np.int64)
    for c in range(5):
        sides[labels == c] = bisect(embedding[labels == c], 0)
    base_ncut, base_q = normalized_cut(labels, edge_index), modularity(labels, edge_index)
    candidates = []
    for a, b in itertools.combinations(range(5), 2):
        for c in set(range(5)) - {a, b}:
            moved = labels.copy()
            moved[labels == b] = a
            moved[(labels == c) & (sides == 1)] = b
            ncut, q = normalized_cut(moved, edge_index), modularity(moved, edge_index)
            if ncut < base_ncut - 1e-9 and q > base_q + 1e-12:
                candidates.append((ncut, moved))
    assert candidates, "the random partition must be improvable for this test to mean anything"
    best_ncut, best_labels = min(candidates, key=lambda t: t[0])
    result = merge_split_refinement(labels, edge_index, embedding, max_moves=1)
    assert result.moves == 1
    assert result.ncut == pytest.approx(best_ncut)
    np.testing.assert_array_equal(result.labels, best_labels)


def test_refuses_moves_that_lower_the_ncut_by_peeling_off_components():
    # Three communities plus small isolated pairs filed under community 0. Merging two weakly
    # linked communities and splitting an isolated pair off lowers the Ncut (the pair's cut is
    # zero), so an Ncut-only rule would take it; it loses modularity, so the refinement must not.
    edge_index, y = block_graph([50, 50, 50], 0.3, 0.01, seed=2)
    pairs = torch.tensor([[150, 151, 152, 153], [151, 150, 153, 152]])
    edge_index = torch.cat([edge_index, pairs], dim=1)
    labels = np.concatenate([y, [0, 0, 0, 0]])
    embedding = np.concatenate([one_hot_embedding(y), np.tile([[0.0, 0.0, 0.0]], (4, 1))])
    embedding[150:, :] = [5.0, 5.0, 5.0]  # the pairs are far from everything: 2-means peels them off
    ncut_only = labels.copy()
    ncut_only[labels == 2] = 1
    ncut_only[150:] = 2
    assert normalized_cut(ncut_only, edge_index) < normalized_cut(labels, edge_index)
    assert modularity(ncut_only, edge_index) < modularity(labels, edge_index)
    result = merge_split_refinement(labels, edge_index, embedding)
    assert result.moves == 0
    np.testing.assert_array_equal(result.labels, labels)


def test_no_moves_leaves_the_input_alone():
    edge_index, y = block_graph([40, 40, 40], 0.2, 0.02, seed=3)
    wrong = y.copy()
    wrong[:20] = 1
    kept = wrong.copy()
    result = merge_split_refinement(wrong, edge_index, one_hot_embedding(y), max_moves=0)
    assert result.moves == 0
    np.testing.assert_array_equal(result.labels, kept)
    np.testing.assert_array_equal(wrong, kept)  # the caller's array is not written to
    assert result.ncut == pytest.approx(normalized_cut(kept, edge_index))
    assert result.modularity == pytest.approx(modularity(kept, edge_index))


def test_weighted_graph_and_sparse_forms_agree():
    from torch_sparse import SparseTensor

    edge_index, y = block_graph([90, 30, 30, 30], 0.2, 0.01, seed=4)
    weight = torch.rand(edge_index.size(1), generator=torch.Generator().manual_seed(0)) + 0.5
    keys = edge_index[0] * y.size + edge_index[1]  # sorted: to_undirected coalesces
    reverse = torch.searchsorted(keys, edge_index[1] * y.size + edge_index[0])
    weight = (weight + weight[reverse]) / 2  # symmetric
    wrong = y.copy()
    wrong[(y == 0) & (np.arange(y.size) % 2 == 0)] = 3
    wrong[y == 3] = 2
    emb = one_hot_embedding(y)
    a = merge_split_refinement(wrong, edge_index, emb, edge_weight=weight)
    adj = SparseTensor(row=edge_index[0], col=edge_index[1], value=weight, sparse_sizes=(y.size, y.size))
    b = merge_split_refinement(wrong, adj, emb)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.ncut == pytest.approx(normalized_cut(a.labels, edge_index, weight))
    assert a.modularity == pytest.approx(modularity(a.labels, edge_index, weight))
    assert nmi(y, a.labels) == pytest.approx(1.0)


def test_large_clusters_are_bisected_on_a_sample(monkeypatch):
    monkeypatch.setattr(refinement, "_BISECTION_SAMPLE", 50)
    edge_index, y = block_graph([240, 60, 60, 60], 0.15, 0.01)
    wrong = y.copy()
    wrong[(y == 0) & (np.arange(y.size) % 2 == 1)] = 3
    wrong[y == 3] = 2
    result = merge_split_refinement(wrong, edge_index, one_hot_embedding(y))
    assert nmi(y, result.labels) == pytest.approx(1.0)


# Zipf-sized communities: k-means on the embedding leaves merged and halved communities, which
# the moves undo. Measured on 2,000-node graphs (20 communities), graph seeds 0-3: NMI
# 0.904 -> 0.939, 0.889 -> 0.923, 0.896 -> 0.896 (no improving move: partition kept),
# 0.903 -> 0.938; on the 5,000-node graph of seed 0, 0.888 -> 0.922. Every refinement that
# moves raises the NMI by more than MIN_GAIN (measured 0.034-0.035).
MIN_GAIN = 0.02


def test_the_spectral_start_is_refined():
    moved = 0
    for graph_seed in range(4):
        data = planted_partition_graph(2000, 20, 30.0, mixing=0.5, num_features=16, feature_noise=4.0,
                                       seed=graph_seed)
        plain = smoothed_feature_clustering(data.x, data.edge_index, 20, steps=[8], seed=0, merge_split=False)
        refined = smoothed_feature_clustering(data.x, data.edge_index, 20, steps=[8], seed=0)
        assert refined.steps == plain.steps == 8
        assert refined.modularity == pytest.approx(modularity(refined.labels, data.edge_index))
        # What every move guarantees: modularity up, Ncut down (or nothing moved).
        assert refined.modularity >= plain.modularity - 1e-12
        assert normalized_cut(refined.labels, data.edge_index) <= normalized_cut(plain.labels, data.edge_index) + 1e-9
        if refined.modularity > plain.modularity + 1e-9:
            moved += 1
            assert nmi(data.y, refined.labels) > nmi(data.y, plain.labels) + MIN_GAIN, graph_seed
        else:
            assert nmi(refined.labels, plain.labels) == pytest.approx(1.0)  # the partition kept
    assert moved >= 2  # measured: 3 of 4 graphs have a k-means mistake to undo


@pytest.mark.parametrize("labels, embedding, kwargs, match", [
    (np.zeros((4, 2), dtype=np.int64), np.zeros((4, 2)), {}, "1-D integer"),
    (np.array([0.0, 1.0, 0.0, 1.0]), np.zeros((4, 2)), {}, "1-D integer"),
    (np.array([0, 1, 0, 1]), np.zeros((3, 2)), {}, r"\[N, D\] with N = 4"),
    (np.array([0, 1, 0, 1]), np.full((4, 2), np.nan), {}, "NaN or infinite"),
    (np.array([0, 1, 0, 5]), np.zeros((4, 2)), {"num_clusters": 3}, r"lie in \[0, 2\]"),
    (np.array([0, -1, 0, 1]), np.zeros((4, 2)), {}, r"lie in"),
    (np.array([0, 0, 0, 0]), np.zeros((4, 2)), {}, "num_clusters must be an integer >= 2"),
    (np.array([0, 1, 0, 1]), np.zeros((4, 2)), {"max_moves": -1}, "max_moves"),
])
def test_bad_input_is_named(labels, embedding, kwargs, match):
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    with pytest.raises(ValueError, match=match):
        merge_split_refinement(labels, edge_index, embedding, **kwargs)


def test_a_graph_without_edges_is_named():
    with pytest.raises(ValueError, match="no edge weight"):
        merge_split_refinement(np.array([0, 1, 0, 1]), torch.zeros(2, 0, dtype=torch.long), np.zeros((4, 2)))


def test_out_of_range_edges_are_named():
    with pytest.raises(ValueError, match="only 4 nodes"):
        merge_split_refinement(np.array([0, 1, 0, 1]), torch.tensor([[0, 9], [9, 0]]), np.zeros((4, 2)))
