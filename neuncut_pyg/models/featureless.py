r"""The input :class:`~neuncut_pyg.models.NeuNcut` builds for a graph without features: random
vectors keyed by node id, propagated over the graph and whitened with a transform fitted on the
training graph (:class:`FeaturelessInput`).

A GNN needs node features; random ones break the symmetry between communities that structural
ones (degrees) cannot. :math:`\hat{\mathbf{A}}^{K}\mathbf{R}` is a randomized range finder: its
columns span approximately the top eigenvectors of :math:`\hat{\mathbf{A}}`, each direction
scaled by :math:`\lambda_j^K`, so after a few steps the degree direction dominates every column.
Whitening (centring, then :math:`\mathbf{C}^{-1/2}`, :math:`\mathbf{C}` the columns' covariance)
orthonormalizes the columns: the rows become, up to a rotation, an approximate spectral
embedding with every community direction at unit scale (``docs/featureless.md``). The whitening
is shrunk, :math:`(\mathbf{C} + \epsilon\lambda_{\max}\mathbf{I})^{-1/2}`: directions of tiny
variance, mostly noise that a grown graph perturbs, are not scaled up to unit size.
"""
from __future__ import annotations

import hashlib
from typing import Optional, Sequence, Union

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from neuncut_pyg._validation import check_int, check_real
from neuncut_pyg.adjacency import Adj
from neuncut_pyg.propagation import propagate_features

__all__ = ["FeaturelessInput", "node_keys", "id_gaussians", "node_id_features", "FEATURELESS_DIM_PER_CLUSTER",
           "FEATURELESS_COMPONENTS_PER_CLUSTER", "FEATURELESS_SHRINKAGE", "FEATURELESS_STEPS"]

#: Random vectors per node: this many per cluster (``docs/featureless.md``).
FEATURELESS_DIM_PER_CLUSTER = 8
#: Whitened directions kept, the ones of largest variance: this many per cluster (all of them).
#: Fewer leave the network unable to represent a start of many small pieces (Cora's graph: 78
#: components; ``docs/featureless.md``).
FEATURELESS_COMPONENTS_PER_CLUSTER = 8
#: Shrinkage :math:`\epsilon` of the whitening, relative to the largest variance: a direction of
#: variance :math:`\lambda` ends at variance :math:`\lambda / (\lambda + \epsilon\lambda_{\max})`,
#: so that the noise of tiny directions, and how a grown graph perturbs it, is not blown up.
FEATURELESS_SHRINKAGE = 3e-2
#: Propagation steps :math:`K` of the random vectors (``docs/featureless.md``).
FEATURELESS_STEPS = 8
# Whitening drops covariance directions below this share of the largest (numerically zero).
_RANK_TOL = 1e-12


def node_keys(node_ids: Union[Tensor, Sequence]) -> NDArray[np.uint64]:
    """64-bit keys of node ids: integers as they are (an integer tensor or sequence), any other
    id (the command line's strings) by an 8-byte blake2b digest of its text."""
    if isinstance(node_ids, Tensor):
        if node_ids.dim() != 1 or node_ids.is_floating_point() or node_ids.is_complex():
            raise ValueError(f"node ids must be a 1-D integer tensor, got {node_ids.dtype} of shape "
                             f"{list(node_ids.shape)}")
        return node_ids.detach().cpu().numpy().astype(np.uint64)
    ids = np.asarray(node_ids)
    if ids.dtype.kind in "iu":
        return ids.astype(np.uint64)
    return np.fromiter((int.from_bytes(hashlib.blake2b(str(v).encode("utf-8"), digest_size=8).digest(), "little")
                        for v in node_ids), dtype=np.uint64, count=len(node_ids))


def _splitmix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64's finalizer (Steele et al., 2014), elementwise, wrapping."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def id_gaussians(keys: NDArray[np.uint64], dim: int, seed: int = 0) -> NDArray[np.float64]:
    r"""A standard normal vector ``[dim]`` per node key: entry :math:`(v, j)` by the Box-Muller
    transform of two SplitMix64 hashes of ``(seed, key, j)``. A pure function of the key, so a
    node keeps its vector on any graph, and vectorized (no generator per node)."""
    base = _splitmix64(keys ^ _splitmix64(np.full(1, seed, dtype=np.uint64)))
    cols = np.arange(dim, dtype=np.uint64)
    with np.errstate(over="ignore"):
        mixed = base[:, None] * np.uint64(0x100000001B3) + np.uint64(2) * cols[None, :]
        h1, h2 = _splitmix64(mixed), _splitmix64(mixed + np.uint64(1))
    u1 = ((h1 >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53  # in (0, 1): log is finite
    u2 = (h2 >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


class FeaturelessInput(torch.nn.Module):
    r"""Features of a graph without features, :math:`(\hat{\mathbf{A}}^{K}\mathbf{R} -
    \boldsymbol{\mu})\mathbf{T}`: :math:`\mathbf{R}` ``[N, dim]`` node-id-keyed Gaussians
    (:func:`id_gaussians`), :math:`K` = ``steps`` GCN-normalized propagation steps, and the
    shift :math:`\boldsymbol{\mu}` and shrunk whitening :math:`\mathbf{T}` ``[dim, out]`` (the
    ``components`` directions of largest variance) fitted on the training graph
    (:meth:`fit_transform`) and kept as buffers, so that a grown graph
    (:meth:`forward`) is featurized with the training graph's transform: known ids keep their
    random vectors, new ids get fresh ones, and the propagation runs on the new graph.

    Args:
        dim (int): Random vectors per node.
        components (int): Whitened directions kept (at most ``dim``; fewer where the
            covariance has fewer non-zero directions).
        steps (int): Propagation steps :math:`K \geq 0`.
        seed (int): Mixed into every node's hash.
        shrinkage (float): :math:`\epsilon \geq 0` of the whitening (``0``: plain whitening).
    """

    def __init__(self, dim: int, components: int, steps: int = FEATURELESS_STEPS, seed: int = 0,
                 shrinkage: float = FEATURELESS_SHRINKAGE) -> None:
        super().__init__()
        self.dim = check_int(dim, "dim")
        self.components = min(check_int(components, "components"), self.dim)
        self.steps = check_int(steps, "steps", minimum=0)
        self.seed = check_int(seed, "seed", minimum=0)
        self.shrinkage = check_real(shrinkage, "shrinkage", minimum=0.0)
        self.register_buffer("shift", torch.zeros(self.dim, dtype=torch.float64))
        self.register_buffer("transform", torch.eye(self.dim, self.components, dtype=torch.float64))

    @property
    def out_channels(self) -> int:
        """Width of the features (``dim`` less the directions whitening found empty)."""
        return self.transform.size(1)

    def _propagated(self, keys: NDArray[np.uint64], adj: Adj, num_nodes: int) -> Tensor:
        if keys.shape[0] != num_nodes:
            raise ValueError(f"got {keys.shape[0]} node ids for a graph of {num_nodes} nodes")
        r = torch.from_numpy(id_gaussians(keys, self.dim, self.seed))
        return propagate_features(r, adj, steps=self.steps, num_nodes=num_nodes)

    def fit_transform(self, keys: NDArray[np.uint64], adj: Adj, num_nodes: int) -> Tensor:
        """Fits the shift and the shrunk whitening on the training graph; returns its features
        ``[N, out]``."""
        centred = self._propagated(keys, adj, num_nodes)
        shift = centred.mean(dim=0)
        centred -= shift
        cov = centred.T @ centred / max(num_nodes - 1, 1)
        values, vectors = torch.linalg.eigh(cov)
        keep = values > values.max() * _RANK_TOL
        keep[: max(values.numel() - self.components, 0)] = False  # eigh: ascending
        if not bool(keep.any()):
            raise ValueError("the graph gives no featureless input: every propagated random vector is constant "
                             "(a graph of one node, or one connected by equal weights to all?)")
        transform = vectors[:, keep] / (values[keep] + self.shrinkage * values.max()).sqrt()
        self.shift = shift
        self.transform = transform
        return (centred @ transform).to(torch.get_default_dtype())

    def forward(self, keys: NDArray[np.uint64], adj: Adj, num_nodes: int) -> Tensor:
        """Features ``[N, out]`` of a (possibly grown) graph with the fitted transform."""
        return ((self._propagated(keys, adj, num_nodes) - self.shift) @ self.transform).to(torch.get_default_dtype())

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, components={self.components}, steps={self.steps}, seed={self.seed}, "
                f"shrinkage={self.shrinkage:g}")


def node_id_features(
    node_ids: Sequence[str],
    edge_index: Tensor,
    edge_weight: Optional[Tensor] = None,
    *,
    dim: int = 32,
    steps: int = 4,
    seed: int = 0,
) -> Tensor:
    r"""Node features for a graph that has none: random vectors keyed by node id, smoothed by
    a random walk. The featurization of checkpoints written before the library had its own
    featureless path (``NeuNcut(-1, k)`` on a ``Data`` without ``x``), kept to assign with them.

    Node ``v`` gets :math:`\mathbf{r}_v \sim \mathcal{N}(\mathbf{0}, \mathbf{I}_{dim})` drawn
    from a generator seeded with a hash of ``(seed, v)``, so the same id always gets the same
    vector, on any graph. The features are :math:`\mathbf{X} = (\mathbf{D}^{-1}\mathbf{W})^{t}
    \mathbf{R}` with ``t = steps``, each column then standardized. Within a community the walk
    mixes fast, so its nodes' features become alike while communities keep distinct averages
    (a random projection of the walk's ``t``-step distributions).

    Args:
        node_ids (Sequence[str]): The ``N`` node ids, in index order.
        edge_index (torch.Tensor): ``[2, E]`` undirected graph.
        edge_weight (torch.Tensor, optional): ``[E]`` non-negative weights.
        dim (int): Feature size. (default: ``32``)
        steps (int): Random-walk steps :math:`t \geq 0`. (default: ``4``)
        seed (int): Mixed into every node's hash. (default: ``0``)

    Returns:
        torch.Tensor: ``float32`` features ``[N, dim]``.
    """
    if dim < 1 or steps < 0:
        raise ValueError(f"dim must be >= 1 and steps >= 0, got dim={dim}, steps={steps}")
    num_nodes = len(node_ids)
    r = np.empty((num_nodes, dim), dtype=np.float32)
    for i, node in enumerate(node_ids):
        digest = hashlib.blake2b(f"{seed}\x00{node}".encode("utf-8"), digest_size=8).digest()
        r[i] = np.random.default_rng(int.from_bytes(digest, "little")).standard_normal(dim)
    x = torch.from_numpy(r)
    row, col = edge_index
    weight = torch.ones(row.numel()) if edge_weight is None else edge_weight.float()
    deg = torch.zeros(num_nodes).index_add_(0, row, weight)
    inv_deg = torch.where(deg > 0, 1.0 / deg.clamp(min=1e-30), torch.zeros_like(deg))
    for _ in range(steps):
        walked = torch.zeros_like(x).index_add_(0, row, x[col] * weight[:, None]) * inv_deg[:, None]
        # An isolated node keeps its own vector rather than collapsing to zero.
        x = torch.where((deg > 0)[:, None], walked, x)
    std = x.std(dim=0) if num_nodes > 1 else torch.ones(dim)
    return (x - x.mean(dim=0)) / std.clamp(min=1e-12)
