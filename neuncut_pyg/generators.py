r"""Synthetic graphs with a planted clustering, at the scale of the OGB node benchmarks.

:func:`planted_partition_graph` draws a *degree-corrected planted partition*: heavy-tailed
degrees, communities of unequal size, a controlled fraction of edges between communities (the
LFR "mixing parameter") and Gaussian-mixture node features. Unlike
:func:`torch_geometric.utils.stochastic_blockmodel_graph`, which enumerates all :math:`N^2` node
pairs, it works with *edge stubs*, in :math:`O(N + E)` time and memory, so that graphs of
``ogbn-products`` size (2.4M nodes, 62M edges) are cheap to make (``benchmarks/generator_scale.py``).
"""
from __future__ import annotations

import math
import warnings
from typing import Optional

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor
from torch_geometric.data import Data

from neuncut_pyg._validation import check_int, check_real

__all__ = ["planted_partition_graph", "community_sizes", "degree_propensities"]

# The edge budget is filled in rounds (see planted_partition_graph); the first round usually
# lands within a few percent of it and two or three more close the gap.
_MAX_FILL_ROUNDS = 12
# Inter-community stub pairs that fall inside one community are rewired into crossing edges in
# at most this many passes per round; each pass settles about half of those left, or more.
_MAX_REPAIR_PASSES = 24
# A round draws at most this many times the first round's expected stubs, which bounds its
# memory; graphs near their capacity may then stop short (with a warning) instead.
_MAX_RATE_SCALE = 4.0
# Nodes per chunk when adding community centers to the features, so that no [N, F] temporary
# beside the feature matrix itself is formed.
_FEATURE_CHUNK = 1 << 16


# ----------------------------------------------------------------------------------------------
# Community sizes and degree propensities
# ----------------------------------------------------------------------------------------------


def community_sizes(num_nodes: int, num_communities: int, size_exponent: float = 1.0) -> Tensor:
    r"""Zipf-distributed community sizes, every community non-empty.

    Community :math:`c \in \{0, \dots, K-1\}` gets a share proportional to
    :math:`(c + 1)^{-s}`; every community first receives one node and the remaining
    :math:`N - K` are split by these shares with the largest-remainder rule, so the sizes are
    deterministic, sum to :math:`N` and are non-increasing in :math:`c`.

    :math:`s = 0` gives balanced sizes (they differ by at most one). With :math:`s = 1` the
    largest community is about :math:`K` times the smallest (for :math:`K = 47`: 22% and 0.5% of
    the nodes, close to the label distribution of ``ogbn-products``).

    Args:
        num_nodes (int): :math:`N`, at least ``num_communities``.
        num_communities (int): :math:`K`, at least 2.
        size_exponent (float): The Zipf exponent :math:`s \ge 0`. (default: ``1.0``)

    Returns:
        torch.Tensor: Sizes ``[K]``, ``int64``.
    """
    num_communities = check_int(num_communities, "num_communities", minimum=2)
    num_nodes = check_int(num_nodes, "num_nodes", minimum=num_communities)
    size_exponent = check_real(size_exponent, "size_exponent")
    if size_exponent < 0:
        raise ValueError(f"size_exponent must be >= 0 (0 gives balanced communities), got {size_exponent}")
    shares = np.arange(1, num_communities + 1, dtype=np.float64) ** -size_exponent
    shares /= shares.sum()
    spare = num_nodes - num_communities
    quota = shares * spare
    sizes = np.floor(quota).astype(np.int64)
    # Largest remainders first; a stable sort breaks ties towards the larger (lower-id) community.
    leftover = spare - int(sizes.sum())
    sizes[np.argsort(-(quota - sizes), kind="stable")[:leftover]] += 1
    return torch.from_numpy(sizes + 1)


def _phi(b: float, r: float) -> float:
    """``(exp(b r) - 1) / b``, continuous at ``b = 0`` (where it is ``r``)."""
    return r if abs(b) < 1e-12 else math.expm1(b * r) / b


def _bounded_power_law_mean(low: float, high: float, exponent: float) -> float:
    r"""Mean of the density :math:`\propto x^{-\gamma}` on :math:`[\ell, h]`.

    With :math:`r = \ln(h/\ell)`, :math:`\int_\ell^h x^{b-1}\,dx = \ell^{b}\,(e^{br} - 1)/b`,
    so the mean is :math:`\ell\,\phi(2-\gamma, r) / \phi(1-\gamma, r)` with
    :math:`\phi(b, r) = (e^{br} - 1)/b`, which stays accurate at :math:`\gamma = 2`.
    """
    r = math.log(high / low)
    return low * _phi(2.0 - exponent, r) / _phi(1.0 - exponent, r)


def degree_propensities(
    num_nodes: int,
    avg_degree: float,
    degree_exponent: Optional[float] = 2.5,
    max_degree: Optional[float] = None,
    *,
    generator: Optional[torch.Generator] = None,
) -> Tensor:
    r"""Expected degrees :math:`\theta_i` from a bounded power law with a given mean.

    :math:`\theta_i` are i.i.d. with density :math:`p(\theta) \propto \theta^{-\gamma}` on
    :math:`[\theta_{\min}, \theta_{\max}]`, drawn by inverting the CDF:

    .. math::
        \theta = \theta_{\min}\bigl(1 - u\,(1 - (\theta_{\max}/\theta_{\min})^{1-\gamma})
            \bigr)^{1/(1-\gamma)}, \qquad u \sim \mathcal{U}(0, 1).

    :math:`\theta_{\max}` is ``max_degree`` and :math:`\theta_{\min}` is solved (by bisection on
    the closed-form mean) so that :math:`\mathbb{E}[\theta] = \bar d`; the sample is then scaled
    to :math:`\sum_i \theta_i = N \bar d` exactly, which moves :math:`\theta_{\max}` by a
    sampling-noise factor.

    Args:
        num_nodes (int): :math:`N`.
        avg_degree (float): :math:`\bar d > 0`.
        degree_exponent (float, optional): :math:`\gamma > 1`; smaller is heavier-tailed.
            ``None`` gives every node :math:`\theta_i = \bar d`. (default: ``2.5``)
        max_degree (float, optional): :math:`\theta_{\max}`, in
            :math:`(\bar d, N - 1]`. ``None`` takes :math:`\min(\sqrt{N \bar d}, N - 1)`, the
            "structural cutoff" above which a Chung-Lu graph would need more than one edge
            between two hubs. (default: ``None``)
        generator (torch.Generator, optional): The source of randomness.

    Returns:
        torch.Tensor: :math:`\boldsymbol{\theta}`, ``[N]``, ``float64``.
    """
    num_nodes = check_int(num_nodes, "num_nodes", minimum=2)
    avg_degree = check_real(avg_degree, "avg_degree")
    if not 0 < avg_degree < num_nodes - 1:
        raise ValueError(
            f"avg_degree must lie in (0, num_nodes - 1) = (0, {num_nodes - 1}), got {avg_degree}"
        )
    if degree_exponent is None:
        return torch.full((num_nodes,), avg_degree, dtype=torch.float64)
    exponent = check_real(degree_exponent, "degree_exponent")
    if exponent <= 1:
        raise ValueError(f"degree_exponent must be > 1 (or None for equal degrees), got {exponent}")
    if max_degree is None:
        high = min(math.sqrt(num_nodes * avg_degree), num_nodes - 1.0)
    else:
        high = check_real(max_degree, "max_degree")
        if not avg_degree < high <= num_nodes - 1:
            raise ValueError(
                f"max_degree must lie in (avg_degree, num_nodes - 1] = ({avg_degree}, {num_nodes - 1}], "
                f"got {high}"
            )
    # The mean grows monotonically from 0 (theta_min -> 0, as gamma > 1) to theta_max.
    log_low, log_high = math.log(high) - 60.0, math.log(high) - 1e-9
    for _ in range(200):
        middle = 0.5 * (log_low + log_high)
        if _bounded_power_law_mean(math.exp(middle), high, exponent) < avg_degree:
            log_low = middle
        else:
            log_high = middle
    low = math.exp(0.5 * (log_low + log_high))
    u = torch.rand(num_nodes, generator=generator, dtype=torch.float64)
    ratio_term = -math.expm1((1.0 - exponent) * math.log(high / low))  # 1 - (high/low)^(1-gamma)
    theta = (1.0 - u * ratio_term).pow_(1.0 / (1.0 - exponent)).mul_(low)
    return theta.mul_(num_nodes * avg_degree / float(theta.sum()))


# ----------------------------------------------------------------------------------------------
# Edge keys: an undirected edge {i, j}, i < j, is the int64 key i * N + j
# ----------------------------------------------------------------------------------------------


def _pair_keys(stubs: Tensor, num_nodes: int, generator: torch.Generator) -> Tensor:
    """Pairs stubs uniformly at random and returns the pairs' keys ``min * N + max``.

    The two halves of a random permutation form a uniformly random perfect matching of the
    stubs (one is left out when their number is odd). Self-pairs are kept; callers drop them.
    """
    half = stubs.numel() // 2
    shuffled = stubs[torch.randperm(stubs.numel(), generator=generator)]
    first, second = shuffled[:half], shuffled[half : 2 * half]
    return torch.minimum(first, second).mul_(num_nodes).add_(torch.maximum(first, second))


def _intra_keys(
    counts: Tensor, nodes_by_community: Tensor, offsets: Tensor, num_nodes: int, generator: torch.Generator
) -> Tensor:
    """Keys of edges drawn inside each community from per-node stub counts ``[N]``."""
    parts = []
    for c in range(offsets.numel() - 1):
        nodes = nodes_by_community[offsets[c] : offsets[c + 1]]
        stubs = torch.repeat_interleave(nodes, counts[nodes])
        if stubs.numel() < 2:
            continue
        keys = _pair_keys(stubs, num_nodes, generator)
        # A self-pair has key i * N + i, i.e. key % (N + 1) == 0.
        parts.append(keys[keys.remainder(num_nodes + 1) != 0])
        del stubs, keys
    return torch.cat(parts) if parts else torch.empty(0, dtype=torch.long)


def _inter_keys(counts: Tensor, community: Tensor, num_nodes: int, generator: torch.Generator) -> Tensor:
    """Keys of edges between communities from per-node stub counts ``[N]``.

    All stubs are paired uniformly at random. A pair :math:`(x, y)` that falls inside one
    community is then rewired as in the LFR benchmark: a random crossing edge :math:`(a, b)`
    already kept is replaced by :math:`(x, a)` and :math:`(y, b)` when both of these cross. Every
    stub so ends up in a crossing edge (up to ``_MAX_REPAIR_PASSES`` rewiring passes), except in
    a community holding more than half of all outside stubs, whose surplus has no partners.
    Simply re-pairing leftovers among themselves would not do: they are mostly stubs of the
    largest community, which would keep too few outside edges.
    """
    stubs = torch.repeat_interleave(torch.arange(num_nodes), counts)
    half = stubs.numel() // 2
    shuffled = stubs[torch.randperm(stubs.numel(), generator=generator)]
    del stubs
    first, second = shuffled[:half], shuffled[half : 2 * half]
    crossing = community[first] != community[second]
    pool_x, pool_y = first[~crossing], second[~crossing]
    kept_first, kept_second = first[crossing], second[crossing]
    del shuffled, first, second, crossing
    added_first, added_second = [], []
    for _ in range(_MAX_REPAIR_PASSES):
        if pool_x.numel() == 0 or kept_first.numel() == 0:
            break
        target = torch.randint(kept_first.numel(), (pool_x.numel(),), generator=generator)
        a, b = kept_first[target], kept_second[target]
        valid = (community[a] != community[pool_x]) & (community[b] != community[pool_y])
        # Several pool pairs may pick one kept edge: the lowest-numbered valid one rewires it.
        # (Sorting the picks costs O(pool log pool), not O(kept) per pass.)
        candidate = valid.nonzero().squeeze(1)
        picked, order = torch.sort(target[candidate], stable=True)
        first_pick = torch.ones_like(picked, dtype=torch.bool)
        first_pick[1:] = picked[1:] != picked[:-1]
        winner = candidate[order[first_pick]]
        if winner.numel() == 0:
            break
        edge = target[winner]
        kept_first[edge] = pool_x[winner]
        kept_second[edge] = a[winner]
        added_first.append(pool_y[winner])
        added_second.append(b[winner])
        remaining = torch.ones(pool_x.numel(), dtype=torch.bool)
        remaining[winner] = False
        pool_x, pool_y = pool_x[remaining], pool_y[remaining]
    first = torch.cat([kept_first, *added_first])
    second = torch.cat([kept_second, *added_second])
    del kept_first, kept_second, added_first, added_second
    return torch.minimum(first, second).mul_(num_nodes).add_(torch.maximum(first, second))


def _sorted_unique(keys: NDArray[np.int64]) -> NDArray[np.int64]:
    """Sorts ``keys`` in place and returns its distinct values (a new array)."""
    # numpy sorts int64 in place (SIMD quicksort); torch.sort would also materialize an [E]
    # int64 index tensor and is several times slower on CPU.
    keys.sort()
    if keys.size == 0:
        return keys
    first_of_run = np.empty(keys.size, dtype=bool)
    first_of_run[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first_of_run[1:])
    return keys[first_of_run]


def _absent_from(sorted_keys: NDArray[np.int64], candidates: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Mask of ``candidates`` not in ``sorted_keys``, in :math:`O(k \\log E)`."""
    if sorted_keys.size == 0:
        return np.ones(candidates.size, dtype=bool)
    position = np.searchsorted(sorted_keys, candidates)
    np.minimum(position, sorted_keys.size - 1, out=position)
    return sorted_keys[position] != candidates


def _merge_sorted(a: NDArray[np.int64], b: NDArray[np.int64]) -> NDArray[np.int64]:
    """Merges two sorted arrays: timsort ("stable") finds the two runs and merges in O(|a|+|b|)."""
    merged = np.concatenate([a, b])
    merged.sort(kind="stable")
    return merged


class _EdgeBudget:
    """Distinct edges of one kind (intra or inter) filled up to an exact target count."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.keys: NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self.rate_scale = 1.0  # multiplies the expected stubs of the next round

    @property
    def missing(self) -> int:
        return self.target - self.keys.size

    def add(self, raw_keys: Tensor, generator: torch.Generator) -> None:
        """Adds the new distinct keys of a round, a uniform random subset of them if too many."""
        candidates = _sorted_unique(raw_keys.numpy())
        del raw_keys
        candidates = candidates[_absent_from(self.keys, candidates)]
        missing = self.missing
        if candidates.size > missing:
            chosen = torch.randperm(candidates.size, generator=generator)[:missing].numpy()
            chosen.sort()
            candidates = candidates[chosen]
        elif candidates.size > 0:
            # Distinct yield falls as the graph fills up (hub pairs are taken first), so ask the
            # next round for somewhat more than the last round's yield predicts.
            still_missing = missing - candidates.size
            self.rate_scale *= 1.25 * still_missing / candidates.size
        else:
            self.rate_scale *= 16.0
        self.rate_scale = min(self.rate_scale, _MAX_RATE_SCALE)
        self.keys = _merge_sorted(self.keys, candidates) if self.keys.size else candidates


# ----------------------------------------------------------------------------------------------
# The generator
# ----------------------------------------------------------------------------------------------


def planted_partition_graph(
    num_nodes: int,
    num_communities: int,
    avg_degree: float,
    *,
    mixing: float = 0.5,
    degree_exponent: Optional[float] = 2.5,
    max_degree: Optional[float] = None,
    size_exponent: float = 1.0,
    num_features: int = 64,
    feature_noise: float = 1.0,
    seed: int = 0,
) -> Data:
    r"""A degree-corrected planted-partition graph with Gaussian-mixture node features.

    **Communities.** Zipf sizes with exponent ``size_exponent`` (:func:`community_sizes`),
    assigned by a random permutation, so node ids carry no information.

    **Edges.** Every node gets a degree propensity :math:`\theta_i` from a bounded power law with
    exponent ``degree_exponent`` and mean :math:`\bar d` (see :func:`degree_propensities`).
    With mixing parameter :math:`\mu`, node :math:`i` of community :math:`c_i` draws

    .. math::
        k_i^{\mathrm{in}} \sim \mathrm{Poisson}\bigl((1 - \mu)\,\theta_i\bigr), \qquad
        k_i^{\mathrm{out}} \sim \mathrm{Poisson}(\mu\,\theta_i)

    edge stubs. Inside each community the stubs are paired uniformly at random (a Chung-Lu
    graph per community, endpoints drawn :math:`\propto \theta`); the :math:`k^{\mathrm{out}}`
    stubs are paired across the graph, pairs inside one community re-paired as in the LFR
    benchmark. Self-loops and repeated pairs are dropped. The number of undirected edges is
    fixed, :math:`m = \mathrm{round}(N\bar d/2)`, of which :math:`\mathrm{round}(\mu m)` join
    different communities: dropped duplicates are made up by further rounds of the same process
    (a :class:`UserWarning` says by how much the rounds fall short when a community is too small
    or a hub too large for the density).

    **Features.** :math:`\mathbf{x}_i = \boldsymbol{\mu}_{c_i} + \sigma\,\boldsymbol{\varepsilon}_i`
    with centers :math:`\boldsymbol{\mu}_c` and noise :math:`\boldsymbol{\varepsilon}_i` standard
    normal: about :math:`\sqrt{2F}` between centers, so the features carry little information
    once :math:`\sigma \gtrsim \sqrt{F}`.

    Cost: :math:`O(N F + E)` apart from sorting the edge keys. All randomness comes from a
    ``torch.Generator`` seeded with ``seed``: the global random state is left alone.

    Args:
        num_nodes (int): :math:`N \ge K`.
        num_communities (int): :math:`K \ge 2`.
        avg_degree (float): :math:`\bar d`, the average degree, in :math:`(0, N - 1)`.
        mixing (float): :math:`\mu \in [0, 1]`, the expected fraction of a node's edges that
            leave its community. (default: ``0.5``)
        degree_exponent (float, optional): :math:`\gamma > 1` of the power-law propensities;
            ``None`` gives all nodes the same propensity (a plain planted partition).
            (default: ``2.5``)
        max_degree (float, optional): The largest propensity :math:`\theta_{\max}`, in
            :math:`(\bar d, N - 1]`; ``None`` takes :math:`\min(\sqrt{N\bar d}, N - 1)`. The
            smallest is solved for so the mean is :math:`\bar d`. (default: ``None``)
        size_exponent (float): Zipf exponent :math:`s \ge 0` of the community sizes; ``0``
            gives balanced sizes. (default: ``1.0``)
        num_features (int): :math:`F \ge 0`; ``0`` leaves ``data.x`` as ``None``.
            (default: ``64``)
        feature_noise (float): :math:`\sigma \ge 0`, the feature noise scale. (default: ``1.0``)
        seed (int): Seed of the generator. (default: ``0``)

    Returns:
        torch_geometric.data.Data: ``edge_index`` ``[2, 2m]`` (both directions, sorted, no
        self-loops or duplicates), ``y`` ``[N]`` (community 0 the largest), ``x`` ``[N, F]``.

    Raises:
        ValueError: if an argument is out of range, or the communities cannot hold the
            requested number of intra- or inter-community edges.

    Example:
        >>> data = planted_partition_graph(10_000, 8, 20.0, mixing=0.3, seed=1)
    """
    num_communities = check_int(num_communities, "num_communities", minimum=2)
    num_nodes = check_int(num_nodes, "num_nodes", minimum=num_communities)
    avg_degree = check_real(avg_degree, "avg_degree")
    if not 0 < avg_degree < num_nodes - 1:
        raise ValueError(
            f"avg_degree must lie in (0, num_nodes - 1) = (0, {num_nodes - 1}), got {avg_degree}"
        )
    mixing = check_real(mixing, "mixing")
    if not 0.0 <= mixing <= 1.0:
        raise ValueError(f"mixing must lie in [0, 1] (a fraction of edges), got {mixing}")
    num_features = check_int(num_features, "num_features", minimum=0)
    feature_noise = check_real(feature_noise, "feature_noise")
    if feature_noise < 0:
        raise ValueError(f"feature_noise must be >= 0, got {feature_noise}")
    seed = check_int(seed, "seed", minimum=0)
    sizes = community_sizes(num_nodes, num_communities, size_exponent)

    num_edges = round(num_nodes * avg_degree / 2)
    inter_target = round(mixing * num_edges)
    intra_target = num_edges - inter_target
    intra_capacity = int((sizes * (sizes - 1) // 2).sum())
    inter_capacity = (num_nodes * num_nodes - int((sizes * sizes).sum())) // 2
    if intra_target > intra_capacity:
        raise ValueError(
            f"the communities cannot hold {intra_target} intra-community edges (at most "
            f"{intra_capacity} node pairs lie inside communities): lower avg_degree, raise mixing "
            f"or lower size_exponent"
        )
    if inter_target > inter_capacity:
        raise ValueError(
            f"{inter_target} inter-community edges requested but only {inter_capacity} node pairs "
            f"join different communities: lower avg_degree or mixing"
        )

    generator = torch.Generator().manual_seed(seed)
    community = torch.repeat_interleave(torch.arange(num_communities), sizes)
    community = community[torch.randperm(num_nodes, generator=generator)]
    theta = degree_propensities(num_nodes, avg_degree, degree_exponent, max_degree, generator=generator)

    nodes_by_community = torch.argsort(community, stable=True)
    offsets = torch.zeros(num_communities + 1, dtype=torch.long)
    torch.cumsum(sizes, 0, out=offsets[1:])
    intra = _EdgeBudget(intra_target)
    inter = _EdgeBudget(inter_target)
    for _ in range(_MAX_FILL_ROUNDS):
        if intra.missing > 0:
            rate = theta * ((1.0 - mixing) * intra.rate_scale)
            counts = torch.poisson(rate, generator=generator).long()
            intra.add(_intra_keys(counts, nodes_by_community, offsets, num_nodes, generator), generator)
        if inter.missing > 0:
            rate = theta * (mixing * inter.rate_scale)
            counts = torch.poisson(rate, generator=generator).long()
            inter.add(_inter_keys(counts, community, num_nodes, generator), generator)
        if intra.missing == 0 and inter.missing == 0:
            break
    if intra.missing > 0 or inter.missing > 0:
        achieved = intra.keys.size + inter.keys.size
        warnings.warn(
            f"planted_partition_graph: {achieved} of {num_edges} edges placed "
            f"({intra.missing} intra- and {inter.missing} inter-community edges short) after "
            f"{_MAX_FILL_ROUNDS} rounds; the communities or hubs are too small for this density",
            UserWarning,
            stacklevel=2,
        )
    undirected = _merge_sorted(intra.keys, inter.keys)
    del intra, inter, theta, nodes_by_community
    edge_index = _both_directions(undirected, num_nodes)
    del undirected

    x = None
    if num_features > 0:
        centers = torch.randn(num_communities, num_features, generator=generator)
        x = torch.randn(num_nodes, num_features, generator=generator).mul_(feature_noise)
        for start in range(0, num_nodes, _FEATURE_CHUNK):
            stop = min(start + _FEATURE_CHUNK, num_nodes)
            x[start:stop] += centers[community[start:stop]]
    return Data(x=x, edge_index=edge_index, y=community, num_nodes=num_nodes)


def _both_directions(undirected: NDArray[np.int64], num_nodes: int) -> Tensor:
    r"""``edge_index`` ``[2, 2m]`` sorted by (row, col) from sorted keys :math:`iN + j`, :math:`i < j`.

    The directed keys are written into row 1 of the output itself and sorted there: the
    :math:`(i, j)` half is already sorted, the :math:`(j, i)` half is sorted on its own, and one
    linear merge joins them. Row 0 is then ``key // N`` and row 1 becomes ``key % N`` in place,
    so besides the output only the :math:`m` undirected keys and a merge buffer are held.
    """
    m = undirected.size
    edge_index = torch.empty(2, 2 * m, dtype=torch.long)
    keys = edge_index[1].numpy()
    keys[:m] = undirected
    reversed_keys = keys[m:]
    np.remainder(undirected, num_nodes, out=reversed_keys)
    reversed_keys *= num_nodes
    reversed_keys += undirected // num_nodes
    reversed_keys.sort()
    keys.sort(kind="stable")
    np.floor_divide(keys, num_nodes, out=edge_index[0].numpy())
    np.remainder(keys, num_nodes, out=keys)
    return edge_index
