"""The degree-corrected planted-partition generator: structure, statistics, determinism, scale."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score
from torch_geometric.utils import contains_self_loops, is_undirected

import neuncut_pyg.generators as generators
from neuncut_pyg.generators import community_sizes, degree_propensities, planted_partition_graph
from neuncut_pyg.metrics import normalized_cut

pytestmark = pytest.mark.usefixtures("one_torch_thread")




def degrees(data) -> torch.Tensor:
    return torch.bincount(data.edge_index[0], minlength=data.num_nodes)


def crossing_fraction(data) -> float:
    row, col = data.edge_index
    return float((data.y[row] != data.y[col]).double().mean())


def hill_exponent(values: torch.Tensor, minimum: float) -> float:
    """Maximum-likelihood power-law exponent of the values at or above ``minimum``."""
    tail = values[values >= minimum].double()
    return 1.0 + tail.numel() / float(torch.log(tail / (minimum - 0.5)).sum())


# ----------------------------------------------------------------------------------------------
# Structure and determinism
# ----------------------------------------------------------------------------------------------


def test_graph_is_undirected_coalesced_and_typed():
    data = planted_partition_graph(3000, 7, 12.0, mixing=0.4, num_features=10, seed=5)
    row, col = data.edge_index
    assert data.edge_index.dtype == torch.long and data.y.dtype == torch.long
    assert data.x.dtype == torch.float32 and data.x.shape == (3000, 10)
    assert data.num_nodes == 3000 and data.y.shape == (3000,)
    assert is_undirected(data.edge_index, num_nodes=3000)
    assert not contains_self_loops(data.edge_index)
    key = row * 3000 + col
    assert bool((key[1:] > key[:-1]).all()), "edge_index must be sorted by (row, col) without duplicates"
    assert int(data.edge_index.min()) >= 0 and int(data.edge_index.max()) < 3000
    assert set(data.y.tolist()) == set(range(7))


def test_same_seed_same_graph_and_global_rng_untouched():
    state = torch.random.get_rng_state()
    first = planted_partition_graph(2000, 5, 10.0, num_features=8, seed=11)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = planted_partition_graph(2000, 5, 10.0, num_features=8, seed=11)
    assert torch.equal(first.edge_index, second.edge_index)
    assert torch.equal(first.y, second.y)
    assert torch.equal(first.x, second.x)


def test_different_seeds_differ():
    first = planted_partition_graph(2000, 5, 10.0, num_features=8, seed=1)
    second = planted_partition_graph(2000, 5, 10.0, num_features=8, seed=2)
    assert not torch.equal(first.y, second.y)
    assert not torch.equal(first.x, second.x)
    same_size = first.edge_index.shape == second.edge_index.shape
    assert not (same_size and torch.equal(first.edge_index, second.edge_index))


def test_node_ids_carry_no_community_information():
    data = planted_partition_graph(4000, 4, 8.0, size_exponent=0.0, num_features=0, seed=0)
    # Balanced communities in random order: each quarter of the ids holds ~1000/4 of each.
    per_quarter = torch.bincount(data.y[:1000], minlength=4).double()
    assert bool((per_quarter - 250).abs().max() < 60)


# ----------------------------------------------------------------------------------------------
# Degree and mixing statistics
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "num_nodes, num_communities, avg_degree, mixing",
    [(5000, 6, 16.0, 0.3), (3000, 20, 7.3, 0.6), (800, 3, 60.0, 0.1), (1500, 4, 4.5, 1.0), (1500, 4, 4.5, 0.0)],
)
def test_average_degree_and_mixing_are_hit(num_nodes, num_communities, avg_degree, mixing):
    data = planted_partition_graph(num_nodes, num_communities, avg_degree, mixing=mixing, num_features=0)
    num_edges = data.edge_index.shape[1] // 2
    assert num_edges == round(num_nodes * avg_degree / 2)
    assert data.edge_index.shape[1] / num_nodes == pytest.approx(avg_degree, rel=1e-3)
    assert crossing_fraction(data) == pytest.approx(mixing, abs=2e-3)


@pytest.mark.parametrize("mixing", [0.1, 0.3, 0.6])
def test_every_community_mixes_about_mu(mixing):
    """Mixing is per node (as in LFR), not only on average: large and small communities alike."""
    data = planted_partition_graph(20000, 8, 20.0, mixing=mixing, size_exponent=1.0, num_features=0, seed=4)
    row, col = data.edge_index
    community_of_edge = data.y[row]
    volume = torch.bincount(community_of_edge, minlength=8).double()
    cut = torch.bincount(community_of_edge[data.y[row] != data.y[col]], minlength=8).double()
    per_community = cut / volume
    assert bool((per_community - mixing).abs().max() < 0.05), per_community


def test_degrees_are_heavy_tailed_and_follow_the_exponent():
    estimates = {}
    for exponent in (2.1, 3.0):
        data = planted_partition_graph(20000, 5, 20.0, degree_exponent=exponent, num_features=0, seed=3)
        deg = degrees(data).double()
        assert float(deg.max()) > 20 * float(deg.mean())
        estimates[exponent] = hill_exponent(deg, minimum=40)
        # Degrees are Poisson around bounded power-law propensities; the cutoff biases the tail
        # estimate upwards a little.
        assert estimates[exponent] == pytest.approx(exponent, abs=0.35)
    assert estimates[2.1] < estimates[3.0] - 0.4

    homogeneous = degrees(planted_partition_graph(20000, 5, 20.0, degree_exponent=None, num_features=0, seed=3))
    homogeneous = homogeneous.double()
    assert float(homogeneous.max()) < 2.5 * float(homogeneous.mean())
    assert float(homogeneous.std() / homogeneous.mean()) < 0.3  # Poisson: 1/sqrt(20) = 0.22


def test_degree_propensities_hit_mean_and_bounds():
    generator = torch.Generator().manual_seed(0)
    theta = degree_propensities(200000, 12.0, 2.5, max_degree=500.0, generator=generator)
    assert theta.dtype == torch.float64
    assert float(theta.sum()) == pytest.approx(200000 * 12.0, rel=1e-12)
    assert float(theta.max()) <= 500.0 * 1.05  # rescaled to the exact mean by a near-1 factor
    # Kolmogorov-Smirnov distance to the bounded power law on [min, max] of the sample.
    low, high = float(theta.min()), float(theta.max())

    def ks_distance(exponent: float) -> float:
        x = np.sort(theta.numpy())
        cdf = (low ** (1 - exponent) - x ** (1 - exponent)) / (low ** (1 - exponent) - high ** (1 - exponent))
        return float(np.max(np.abs(cdf - np.arange(1, x.size + 1) / x.size)))

    assert ks_distance(2.5) < 0.01
    assert ks_distance(2.3) > 0.03 and ks_distance(2.7) > 0.03
    # gamma = 2 is where the closed-form mean switches to a logarithm.
    theta2 = degree_propensities(100000, 5.0, 2.0, generator=generator)
    assert float(theta2.min()) > 0 and float(theta2.mean()) == pytest.approx(5.0)
    unscaled_mean = generators._bounded_power_law_mean(1.0, 100.0, 2.0)
    assert unscaled_mean == pytest.approx(math.log(100.0) / (1.0 - 1.0 / 100.0))


def test_community_sizes_balanced_and_imbalanced():
    balanced = community_sizes(1003, 10, size_exponent=0.0)
    assert int(balanced.sum()) == 1003 and int(balanced.max() - balanced.min()) <= 1
    zipf = community_sizes(100000, 10, size_exponent=1.0)
    assert int(zipf.sum()) == 100000
    assert bool((zipf[1:] <= zipf[:-1]).all())
    assert float(zipf[0] / zipf[-1]) == pytest.approx(10.0, rel=0.01)
    steep = community_sizes(60, 12, size_exponent=4.0)
    assert int(steep.sum()) == 60 and int(steep.min()) == 1  # every community non-empty
    assert community_sizes(12, 12, size_exponent=2.0).tolist() == [1] * 12

    data = planted_partition_graph(6000, 6, 10.0, size_exponent=1.0, num_features=0)
    assert torch.bincount(data.y).tolist() == community_sizes(6000, 6, 1.0).tolist()


# ----------------------------------------------------------------------------------------------
# Clustering signal: graph and features
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mixing", [0.05, 0.3, 0.6])
def test_planted_partition_has_a_low_normalized_cut(mixing):
    data = planted_partition_graph(5000, 6, 16.0, mixing=mixing, num_features=0, seed=0)
    planted = normalized_cut(data.y, data.edge_index)
    shuffled = normalized_cut(data.y[torch.randperm(5000, generator=torch.Generator().manual_seed(0))], data.edge_index)
    # Each community cuts a fraction mu of its volume; a random labelling cuts about (k-1)/k.
    assert planted == pytest.approx(6 * mixing, rel=0.1)
    assert shuffled == pytest.approx(5.0, rel=0.05)


def test_features_reveal_communities_only_at_low_noise():
    def feature_nmi(noise: float) -> float:
        data = planted_partition_graph(2000, 5, 10.0, num_features=16, feature_noise=noise, seed=0)
        labels = KMeans(5, n_init=4, random_state=0).fit_predict(data.x.numpy())
        return normalized_mutual_info_score(data.y.numpy(), labels)

    assert feature_nmi(0.5) > 0.95
    assert feature_nmi(8.0) < 0.1


def test_feature_noise_zero_gives_the_centers():
    data = planted_partition_graph(500, 4, 6.0, num_features=5, feature_noise=0.0)
    for community in range(4):
        rows = data.x[data.y == community]
        assert torch.equal(rows, rows[:1].expand_as(rows))
    assert planted_partition_graph(500, 4, 6.0, num_features=0).x is None


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((100, 1, 5.0), {}, "num_communities"),
        ((5, 6, 2.0), {}, "num_nodes"),
        ((100.0, 4, 5.0), {}, "num_nodes must be an integer"),
        ((100, True, 5.0), {}, "num_communities must be an integer"),
        ((100, 4, 0.0), {}, "avg_degree"),
        ((100, 4, 99.0), {}, "avg_degree"),
        ((100, 4, float("nan")), {}, "avg_degree"),
        ((100, 4, 5.0), {"mixing": 1.5}, "mixing"),
        ((100, 4, 5.0), {"mixing": -0.1}, "mixing"),
        ((100, 4, 5.0), {"degree_exponent": 1.0}, "degree_exponent"),
        ((100, 4, 5.0), {"max_degree": 4.0}, "max_degree"),
        ((100, 4, 5.0), {"max_degree": 100.0}, "max_degree"),
        ((100, 4, 5.0), {"size_exponent": -1.0}, "size_exponent"),
        ((100, 4, 5.0), {"num_features": -1}, "num_features"),
        ((100, 4, 5.0), {"feature_noise": -1.0}, "feature_noise"),
        ((100, 4, 5.0), {"seed": -3}, "seed"),
        ((40, 2, 20.0), {"mixing": 0.0, "size_exponent": 0.0}, "intra-community edges"),
        ((40, 2, 30.0), {"mixing": 1.0, "size_exponent": 0.0}, "inter-community edges"),
    ],
)
def test_bad_inputs_raise(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        planted_partition_graph(*args, **kwargs)


def test_short_fill_warns(monkeypatch):
    # One round cannot make up for the duplicates it draws; the shortfall must not pass silently.
    monkeypatch.setattr(generators, "_MAX_FILL_ROUNDS", 1)
    with pytest.warns(UserWarning, match="edges placed"):
        data = planted_partition_graph(2000, 4, 40.0, degree_exponent=2.1, num_features=0)
    assert data.edge_index.shape[1] // 2 < 40000


# ----------------------------------------------------------------------------------------------
# Scale
# ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_products_size_under_three_minutes_and_eight_gigabytes():
    """ogbn-products sizes: 2,449,029 nodes, ~61.9M undirected edges, 47 communities, 100 features."""
    code = textwrap.dedent(
        """
        import json, resource, time
        import torch
        from neuncut_pyg.generators import planted_partition_graph
        start = time.perf_counter()
        data = planted_partition_graph(2_449_029, 47, 50.5, num_features=100, seed=0)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps({"seconds": seconds, "peak": peak, "stored": data.edge_index.shape[1],
                          "x": list(data.x.shape), "dtype": str(data.edge_index.dtype)}))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    assert stats["dtype"] == "torch.int64" and stats["x"] == [2_449_029, 100]
    assert stats["stored"] == 2 * round(2_449_029 * 50.5 / 2)
    assert stats["seconds"] < 180, stats
    assert stats["peak"] < 8 * 2**30, stats
