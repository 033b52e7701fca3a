"""Partition and label scores against brute-force and networkx / scikit-learn references."""
from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from torch_sparse import SparseTensor

from neuncut_pyg import metrics
from neuncut_pyg.metrics import (
    ari,
    clustering_accuracy,
    conductance,
    evaluate_clustering,
    modularity,
    nmi,
    normalized_cut,
    pairwise_f1,
)


def weighted_graph(n: int = 30, p: float = 0.2, seed: int = 0):
    """A random undirected weighted graph as (networkx graph, edge_index [2, E], weight [E])."""
    rng = np.random.default_rng(seed)
    graph = nx.gnp_random_graph(n, p, seed=seed)
    for u, v in graph.edges:
        graph[u][v]["weight"] = float(rng.uniform(0.1, 2.0))
    rows, cols, weights = [], [], []
    for u, v, w in graph.edges(data="weight"):
        rows += [u, v]
        cols += [v, u]
        weights += [w, w]
    edge_index = torch.tensor([rows, cols], dtype=torch.long)
    return graph, edge_index, torch.tensor(weights, dtype=torch.float64)


def random_labels(n: int, k: int, seed: int) -> np.ndarray:
    """Labels with non-contiguous ids (multiples of 3 plus 5) covering k clusters."""
    rng = np.random.default_rng(seed)
    base = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
    rng.shuffle(base)
    return base * 3 + 5


def clusters_of(labels: np.ndarray):
    return [set(np.flatnonzero(labels == c).tolist()) for c in np.unique(labels)]


def dense_cut_and_volume(labels: np.ndarray, w: np.ndarray):
    """cut(C) and vol(C) of every cluster straight from a dense affinity."""
    w = 0.5 * (w + w.T)
    deg = w.sum(1)
    out = []
    for c in np.unique(labels):
        inside = labels == c
        out.append((w[np.ix_(inside, ~inside)].sum(), deg[inside].sum()))
    return out


# ---------------------------------------------------------------------------------------------
# Graph scores
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_normalized_cut_matches_networkx(seed):
    graph, edge_index, weight = weighted_graph(seed=seed)
    labels = random_labels(30, 4, seed)
    expected = sum(
        nx.cut_size(graph, c, weight="weight") / nx.volume(graph, c, weight="weight")
        for c in clusters_of(labels)
    )
    assert normalized_cut(labels, edge_index, weight) == pytest.approx(expected, rel=1e-10)


def test_normalized_cut_two_way_is_networkx_normalized_cut_size():
    graph, edge_index, weight = weighted_graph(seed=3)
    labels = np.array([0] * 12 + [1] * 18)
    side_a, side_b = clusters_of(labels)
    expected = nx.normalized_cut_size(graph, side_a, side_b, weight="weight")
    assert normalized_cut(torch.from_numpy(labels), edge_index, weight) == pytest.approx(expected, rel=1e-10)


def test_graph_scores_agree_across_adj_forms():
    _, edge_index, weight = weighted_graph(seed=4)
    labels = random_labels(30, 3, 4)
    sparse = SparseTensor(row=edge_index[0], col=edge_index[1], value=weight, sparse_sizes=(30, 30))
    torch_coo = torch.sparse_coo_tensor(edge_index, weight, (30, 30), check_invariants=True)
    for score in (normalized_cut, conductance, modularity):
        reference = score(labels, edge_index, weight)
        assert score(labels, sparse) == pytest.approx(reference, rel=1e-12)
        assert score(labels, torch_coo) == pytest.approx(reference, rel=1e-12)
        assert score(labels, torch_coo.to_sparse_csr()) == pytest.approx(reference, rel=1e-12)


def test_directed_edges_are_scored_as_the_symmetrized_graph():
    # One direction per edge, weight w, is the undirected graph with weight w/2 on each direction.
    _, edge_index, weight = weighted_graph(seed=5)
    one_way = edge_index[0] < edge_index[1]
    directed, directed_weight = edge_index[:, one_way], weight[one_way]
    labels = random_labels(30, 3, 5)
    for score in (normalized_cut, conductance, modularity):
        assert score(labels, directed, directed_weight) == pytest.approx(
            score(labels, edge_index, weight / 2), rel=1e-12
        )


def test_normalized_cut_matches_dense_reference_with_isolated_nodes():
    # Nodes 0..9 isolated and alone in cluster 7: zero volume, left out instead of 0/0.
    _, edge_index, weight = weighted_graph(n=30, seed=6)
    edge_index = edge_index + 10
    labels = np.concatenate([np.full(10, 7), random_labels(30, 3, 6) + 100])
    w = np.zeros((40, 40))
    w[edge_index[0].numpy(), edge_index[1].numpy()] = weight.numpy()
    expected = sum(cut / vol for cut, vol in dense_cut_and_volume(labels, w) if vol > 0)
    value = normalized_cut(labels, edge_index, weight)
    assert np.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-10)


def test_normalized_cut_of_components_is_zero_and_of_single_cluster_is_zero():
    two_triangles = torch.tensor([[0, 1, 1, 2, 2, 0, 3, 4, 4, 5, 5, 3], [1, 0, 2, 1, 0, 2, 4, 3, 5, 4, 3, 5]])
    assert normalized_cut(np.array([0, 0, 0, 1, 1, 1]), two_triangles) == 0.0
    assert normalized_cut(np.array([2, 2, 2, 2, 2, 2]), two_triangles) == 0.0
    # Splitting one triangle: cut({0}) / vol({0}) + cut({1,2}) / vol({1,2}) = 2/2 + 2/4.
    assert normalized_cut(np.array([0, 1, 1, 2, 2, 2]), two_triangles) == pytest.approx(1.5)


def test_normalized_cut_counts_the_empty_clusters_of_a_k_way_partition():
    two_triangles = torch.tensor([[0, 1, 1, 2, 2, 0, 3, 4, 4, 5, 5, 3], [1, 0, 2, 1, 0, 2, 4, 3, 5, 4, 3, 5]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert normalized_cut(labels, two_triangles, num_clusters=2) == 0.0
    # Asked for 4 clusters, two left empty: each counts 1, the limit of a one-node cluster.
    assert normalized_cut(labels, two_triangles, num_clusters=4) == 2.0
    assert normalized_cut(np.array([0, 1, 1, 2, 2, 2]), two_triangles, num_clusters=3) == pytest.approx(1.5)


@pytest.mark.parametrize("seed", [0, 1])
def test_conductance_matches_networkx(seed):
    graph, edge_index, weight = weighted_graph(seed=seed)
    labels = random_labels(30, 4, seed)
    expected = np.mean([nx.conductance(graph, c, weight="weight") for c in clusters_of(labels)])
    assert conductance(labels, edge_index, weight) == pytest.approx(expected, rel=1e-10)


def test_conductance_skips_clusters_without_volume():
    path = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])  # 0 - 1 - 2, node 3 isolated
    # {0}: cut 1, min(vol 1, vol 3) = 1 -> 1; {1, 2}: cut 1, min(3, 1) = 1 -> 1; {3}: vol 0, skipped.
    assert conductance(np.array([0, 1, 1, 2]), path) == pytest.approx(1.0)
    # {0, 1}: cut 1 / min(3, 1); {2, 3}: cut 1 / min(1, 3) -> 1
    assert conductance(np.array([0, 0, 1, 1]), path) == pytest.approx(1.0)
    assert conductance(np.array([0, 0, 0, 0]), path) == 0.0  # the whole graph: undefined, skipped


@pytest.mark.parametrize("resolution", [1.0, 0.5, 2.0])
def test_modularity_matches_networkx(resolution):
    graph, edge_index, weight = weighted_graph(seed=7)
    labels = random_labels(30, 4, 7)
    expected = nx.algorithms.community.modularity(
        graph, clusters_of(labels), weight="weight", resolution=resolution
    )
    assert modularity(labels, edge_index, weight, resolution=resolution) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("weighted", [True, False])
def test_edge_blocks_do_not_change_the_scores(weighted, monkeypatch):
    # The counting passes go over the edges in blocks; blocks of 7 edges (many, one partial)
    # must give what one block gives, weighted or as plain counts.
    graph, edge_index, weight = weighted_graph(seed=3)
    weight = weight if weighted else None
    labels = random_labels(30, 4, 3)
    whole = (modularity(labels, edge_index, weight), conductance(labels, edge_index, weight))
    monkeypatch.setattr(metrics, "_EDGE_CHUNK", 7)
    blocked = (modularity(labels, edge_index, weight), conductance(labels, edge_index, weight))
    assert blocked == pytest.approx(whole, rel=1e-12)
    expected = nx.algorithms.community.modularity(graph, clusters_of(labels), weight="weight" if weighted else None)
    assert blocked[0] == pytest.approx(expected, rel=1e-10)


def test_modularity_on_karate_club_unweighted():
    graph = nx.karate_club_graph()
    edges = list(graph.edges)
    edge_index = torch.tensor(edges + [(v, u) for u, v in edges]).t()
    labels = np.array([0 if graph.nodes[v]["club"] == "Mr. Hi" else 1 for v in graph])
    expected = nx.algorithms.community.modularity(graph, clusters_of(labels), weight=None)
    assert modularity(torch.from_numpy(labels), edge_index) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Label scores
# ---------------------------------------------------------------------------------------------


def brute_force_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Best accuracy over every injective map between clusters and classes."""
    classes, clusters = np.unique(y_true), np.unique(y_pred)
    best = 0
    if len(clusters) <= len(classes):
        for image in itertools.permutations(classes, len(clusters)):
            mapping = dict(zip(clusters, image))
            best = max(best, sum(mapping[p] == t for p, t in zip(y_pred, y_true)))
    else:
        for image in itertools.permutations(clusters, len(classes)):
            mapping = dict(zip(image, classes))
            best = max(best, sum(mapping.get(p, -1) == t for p, t in zip(y_pred, y_true)))
    return best / len(y_true)


def brute_force_pairwise_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    tp = fp = fn = 0
    for i, j in itertools.combinations(range(len(y_true)), 2):
        same_true, same_pred = y_true[i] == y_true[j], y_pred[i] == y_pred[j]
        tp += same_true and same_pred
        fp += same_pred and not same_true
        fn += same_true and not same_pred
    return 2 * tp / (2 * tp + fp + fn)


@pytest.mark.parametrize("num_classes,num_clusters", [(3, 3), (3, 5), (5, 2), (4, 4)])
def test_accuracy_and_pairwise_f1_match_brute_force(num_classes, num_clusters):
    rng = np.random.default_rng(num_classes * 10 + num_clusters)
    y_true = rng.integers(0, num_classes, 40)
    y_pred = (y_true + rng.integers(0, 2, 40) * rng.integers(0, num_clusters, 40)) % num_clusters * 4 + 1
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(brute_force_accuracy(y_true, y_pred))
    assert pairwise_f1(y_true, y_pred) == pytest.approx(brute_force_pairwise_f1(y_true, y_pred))


def test_accuracy_with_unequal_numbers_of_clusters_and_classes():
    y_true = np.array([0, 0, 0, 1, 1, 1])
    assert clustering_accuracy(y_true, np.array([0, 0, 1, 2, 2, 2])) == pytest.approx(5 / 6)
    assert clustering_accuracy(y_true, np.array([4, 4, 4, 4, 4, 4])) == pytest.approx(3 / 6)
    assert clustering_accuracy(y_true, np.array([9, 7, 7, 3, 3, 3])) == pytest.approx(5 / 6)


def test_label_scores_are_invariant_to_renaming_clusters():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 100)
    renamed = np.array([17, 3, 250, 8])[y_true]
    for score in (nmi, ari, clustering_accuracy, pairwise_f1):
        assert score(y_true, renamed) == pytest.approx(1.0)
        assert score(torch.from_numpy(y_true), torch.from_numpy(renamed)) == pytest.approx(1.0)


def test_nmi_and_ari_are_scikit_learn():
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.integers(0, 4, 80), rng.integers(0, 6, 80)
    assert nmi(y_true, torch.from_numpy(y_pred)) == pytest.approx(normalized_mutual_info_score(y_true, y_pred))
    assert ari(torch.from_numpy(y_true), y_pred) == pytest.approx(adjusted_rand_score(y_true, y_pred))


def test_pairwise_f1_degenerate_partitions():
    singletons = np.arange(5)
    assert pairwise_f1(singletons, singletons + 10) == 1.0  # no pair together in either: full agreement
    assert pairwise_f1(singletons, np.zeros(5, dtype=int)) == 0.0
    assert pairwise_f1(np.zeros(5, dtype=int), singletons) == 0.0
    # One true pair {0, 1}; prediction puts all 10 pairs together: P = 1/10, R = 1.
    assert pairwise_f1(np.array([0, 0, 1, 2, 3]), np.zeros(5, dtype=int)) == pytest.approx(2 / 11)


# ---------------------------------------------------------------------------------------------
# evaluate_clustering and bad input
# ---------------------------------------------------------------------------------------------


def test_evaluate_clustering_keys_and_values():
    graph, edge_index, weight = weighted_graph(seed=8)
    labels = random_labels(30, 3, 8)
    y_true = random_labels(30, 3, 9)
    full = evaluate_clustering(labels, edge_index, weight, y_true=y_true)
    assert list(full) == ["NMI", "ACC", "ARI", "F1", "Ncut", "Modularity", "Conductance"]
    assert full["NMI"] == pytest.approx(nmi(y_true, labels))
    assert full["Ncut"] == pytest.approx(normalized_cut(labels, edge_index, weight))
    assert full["Modularity"] == pytest.approx(modularity(labels, edge_index, weight))
    assert full["Conductance"] == pytest.approx(conductance(labels, edge_index, weight))
    assert all(isinstance(v, float) for v in full.values())
    assert list(evaluate_clustering(labels, y_true=y_true)) == ["NMI", "ACC", "ARI", "F1"]
    assert list(evaluate_clustering(torch.from_numpy(labels), edge_index)) == ["Ncut", "Modularity", "Conductance"]


@pytest.mark.parametrize(
    "labels,message",
    [
        (np.array([[0, 1], [1, 0]]), "1-D"),
        (np.array([0, -1, 1]), "non-negative"),
        (np.array([], dtype=np.int64), "empty"),
        (np.array([0.0, 1.0, 1.0]), "integer"),
        (torch.tensor([0.0, 1.0]), "integer"),
    ],
)
def test_bad_labels_raise(labels, message):
    with pytest.raises(ValueError, match=message):
        nmi(labels, labels)
    with pytest.raises(ValueError, match=message):
        evaluate_clustering(labels, torch.zeros(2, 0, dtype=torch.long))


def test_length_mismatch_raises():
    with pytest.raises(ValueError, match="same nodes"):
        clustering_accuracy(np.array([0, 1, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="same nodes"):
        evaluate_clustering(np.array([0, 1]), y_true=np.array([0, 1, 1]))


def test_bad_graph_raises():
    labels = np.array([0, 0, 1, 1])
    out_of_range = torch.tensor([[0, 4], [4, 0]])
    for score in (normalized_cut, conductance, modularity):
        with pytest.raises(ValueError, match="node indices"):
            score(labels, out_of_range)
        with pytest.raises(ValueError, match="non-negative"):
            score(labels, torch.tensor([[0, 1], [1, 0]]), torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="no edges"):
        modularity(labels, torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate_clustering(labels)
