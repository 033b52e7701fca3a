r"""Reading PyG's ``Adj`` forms of a graph, with the checks every entry point shares.

PyG passes a graph's connectivity as an ``Adj``: a ``[2, E]`` index tensor (with optional
``[E]`` weights), a :class:`torch_sparse.SparseTensor`, or a torch sparse tensor. The loss needs
two things from it, whatever the form: the edges as ``(row, col, weight)`` (for degrees) and the
product :math:`\mathbf{W}\mathbf{S}`. Both are computed here, after checking the input, so that
bad input fails with a message naming the problem rather than a NaN loss. The graph forms that
are built once per graph and reused at every step live here too: the checked
``SparseTensor`` of :math:`\mathbf{W}` (:func:`to_sparse_adjacency`) and the GCN normalization of
its encoder (:func:`gcn_node_terms`, :func:`gcn_adj_t`).
"""
from __future__ import annotations

import warnings
import weakref
from typing import Dict, NamedTuple, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

try:  # torch-sparse is a dependency, but keep the module importable for tooling without it
    from torch_sparse import SparseTensor
except ImportError:  # pragma: no cover
    SparseTensor = None  # type: ignore[assignment,misc]

Adj = Union[Tensor, "SparseTensor"]

__all__ = [
    "Adj",
    "all_finite",
    "as_coo",
    "edge_arrays",
    "spmm",
    "validate_memberships",
    "is_sparse_tensor",
    "symmetric_csr",
    "csr_matrix",
    "to_sparse_adjacency",
    "symmetric_degrees",
    "GCNTerms",
    "gcn_node_terms",
    "gcn_adj_t",
]


def is_sparse_tensor(adj: object) -> bool:
    """Whether ``adj`` is a ``torch_sparse.SparseTensor``."""
    return SparseTensor is not None and isinstance(adj, SparseTensor)


def all_finite(x: Tensor) -> bool:
    """Whether every entry of ``x`` is finite.

    A NaN or an infinity anywhere makes the sum non-finite, and a sum is several times cheaper than
    an element-wise ``isfinite`` over a large membership matrix; only a non-finite sum (which a
    huge but finite tensor can also give) pays for the exact check.
    """
    if x.numel() == 0:
        return True
    if bool(torch.isfinite(x.sum())):
        return True
    return bool(torch.isfinite(x).all())


def validate_memberships(s: Tensor, name: str = "s") -> None:
    """Checks a membership matrix: a floating ``[N, k]`` tensor, ``k >= 2``, all values finite."""
    if not isinstance(s, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(s).__name__}")
    if s.dim() != 2:
        raise ValueError(f"{name} must be a 2-D membership matrix [N, k], got shape {list(s.shape)}")
    if not s.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {s.dtype}")
    if s.size(1) < 2:
        raise ValueError(f"{name} must have at least 2 clusters (columns), got k={s.size(1)}")
    if s.size(0) == 0:
        raise ValueError(f"{name} has no rows: the graph has no nodes")
    if not all_finite(s):
        raise ValueError(f"{name} contains NaN or infinite values")


def _validate_weight(weight: Tensor, num_edges: int, what: str) -> None:
    if weight.dim() != 1 or weight.numel() != num_edges:
        raise ValueError(f"{what} must have shape [{num_edges}] (one weight per edge), got {list(weight.shape)}")
    if not all_finite(weight):
        raise ValueError(f"{what} contains NaN or infinite values")
    if bool((weight < 0).any()):
        raise ValueError(f"{what} must be non-negative: a normalized cut needs non-negative affinities")


def as_coo(
    adj: Adj,
    edge_weight: Optional[Tensor] = None,
    *,
    num_nodes: int,
    dtype: torch.dtype = torch.float32,
) -> Tuple[Tensor, Tensor, Tensor]:
    r"""Returns the checked edges ``(row, col, weight)`` of an ``Adj`` over ``num_nodes`` nodes.

    Raises:
        ValueError: if the shape is not ``[2, E]`` / ``[N, N]``, an index is out of
            ``[0, num_nodes)``, or a weight is NaN, infinite or negative.
    """
    if is_sparse_tensor(adj):
        if edge_weight is not None:
            raise ValueError("edge_weight must be None when the graph is a SparseTensor (its values are the weights)")
        sizes = tuple(adj.sparse_sizes())
        if sizes != (num_nodes, num_nodes):
            raise ValueError(f"adjacency has size {list(sizes)} but s has {num_nodes} rows: expected [{num_nodes}, {num_nodes}]")
        row, col, value = adj.coo()
        weight = torch.ones(row.numel(), dtype=dtype, device=row.device) if value is None else value.to(dtype)
        _validate_weight(weight, row.numel(), "adjacency values")
        return row, col, weight

    if not isinstance(adj, Tensor):
        raise TypeError(
            f"edge_index must be a [2, E] LongTensor, a torch_sparse.SparseTensor or a torch sparse tensor, got {type(adj).__name__}"
        )

    if adj.is_sparse or adj.layout in (torch.sparse_csr, torch.sparse_csc):
        if edge_weight is not None:
            raise ValueError("edge_weight must be None when the graph is a torch sparse tensor (its values are the weights)")
        if adj.dim() != 2 or tuple(adj.shape) != (num_nodes, num_nodes):
            raise ValueError(f"sparse adjacency must have shape [{num_nodes}, {num_nodes}] to match s, got {list(adj.shape)}")
        coo = adj.to_sparse_coo().coalesce() if adj.layout != torch.sparse_coo else adj.coalesce()
        row, col = coo.indices()
        weight = coo.values().to(dtype)
        _validate_weight(weight, row.numel(), "adjacency values")
        return row, col, weight

    if adj.dim() != 2 or adj.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {list(adj.shape)}")
    if adj.dtype not in (torch.long, torch.int, torch.int32):
        raise ValueError(f"edge_index must hold integer node indices, got {adj.dtype}")
    if adj.numel() > 0:
        lo, hi = int(adj.min()), int(adj.max())
        if lo < 0 or hi >= num_nodes:
            raise ValueError(
                f"edge_index holds node indices in [{lo}, {hi}] but there are only {num_nodes} nodes (valid: 0..{num_nodes - 1})"
            )
    row, col = adj[0].long(), adj[1].long()
    if edge_weight is None:
        weight = torch.ones(row.numel(), dtype=dtype, device=row.device)
    else:
        if not isinstance(edge_weight, Tensor):
            raise TypeError(f"edge_weight must be a tensor, got {type(edge_weight).__name__}")
        _validate_weight(edge_weight, row.numel(), "edge_weight")
        weight = edge_weight.to(dtype)
    return row, col, weight


def edge_arrays(
    adj: Adj, edge_weight: Optional[Tensor] = None, *, num_nodes: int
) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """The checked edges of :func:`as_coo` as numpy arrays (int64 ``row``, ``col``; float64
    ``weight``) for counting passes over the edges, with ``weight=None`` for an unweighted graph
    (an index tensor without ``edge_weight``, a ``SparseTensor`` without values): counts need no
    array of ones, which would be 1 GB at ogbn-products size."""
    unweighted = edge_weight is None and (
        (is_sparse_tensor(adj) and adj.storage.value() is None)
        or (isinstance(adj, Tensor) and not adj.is_sparse and adj.layout == torch.strided))
    row, col, weight = as_coo(adj, edge_weight, num_nodes=num_nodes,
                              dtype=torch.float32 if unweighted else torch.float64)
    return row.cpu().numpy(), col.cpu().numpy(), None if unweighted else weight.cpu().numpy()


def spmm(adj: Adj, row: Tensor, col: Tensor, weight: Tensor, x: Tensor) -> Tensor:
    r"""Computes :math:`\mathbf{W}\mathbf{X}` in :math:`O(Ek)` time and :math:`O(E + Nk)` memory.

    A ``SparseTensor`` is multiplied as it is, so its cached layouts are reused across calls: the
    fast path for repeated training steps. A symmetric one whose weights need no gradient
    (every undirected graph PyG stores) goes through :func:`symmetric_csr`'s torch CSR tensor, whose
    product is several times faster than ``torch_sparse``'s on CPU (``benchmarks/loss_cost.py``),
    and whose backward pass is the same product, :math:`\mathbf{W}^{\top} = \mathbf{W}`. Other forms go
    through a torch sparse COO tensor built from the checked ``(row, col, weight)``.
    """
    if is_sparse_tensor(adj):
        value = adj.storage.value()
        if value is None or not value.requires_grad:
            csr = symmetric_csr(adj, x.dtype)
            if csr is not None:
                return _SymmetricSpMM.apply(csr, x)
        if value is not None and value.dtype != x.dtype:
            adj = adj.set_value(value.to(x.dtype), layout="coo")
        return adj.matmul(x)
    n = x.size(0)
    w = torch.sparse_coo_tensor(torch.stack([row, col]), weight.to(x.dtype), (n, n), check_invariants=False)
    return torch.sparse.mm(w, x)


class _SymmetricSpMM(torch.autograd.Function):
    """``W @ X`` for a symmetric CSR ``W`` whose values need no gradient: the gradient with
    respect to ``X`` is ``W^T @ G = W @ G``, so no transpose is ever built."""

    @staticmethod
    def forward(ctx, csr: Tensor, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.csr = csr
        return csr @ x

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        return None, ctx.csr @ grad.contiguous()


class _CsrCacheEntry:
    """What :func:`symmetric_csr` knows of one graph: whether it is symmetric (checked once) and
    its CSR tensor per dtype."""

    def __init__(self, ref: "weakref.ReferenceType") -> None:
        self.ref = ref
        self.symmetric: Optional[bool] = None
        self.csr: Dict[torch.dtype, Tensor] = {}


# id(SparseTensor) -> its entry. SparseTensors are unhashable, hence ids; the weak reference's
# callback drops an entry with its graph, before the id can be reused. SparseTensors are
# immutable (every change returns a new one), so an entry stays valid for its graph's lifetime.
_CSR_CACHE: Dict[int, _CsrCacheEntry] = {}


def _csr_cache_entry(adj: "SparseTensor") -> _CsrCacheEntry:
    key = id(adj)
    entry = _CSR_CACHE.get(key)
    if entry is None or entry.ref() is not adj:
        entry = _CSR_CACHE[key] = _CsrCacheEntry(weakref.ref(adj, lambda _, key=key: _CSR_CACHE.pop(key, None)))
    return entry


def symmetric_csr(adj: "SparseTensor", dtype: torch.dtype) -> Optional[Tensor]:
    """The torch CSR tensor of a symmetric ``SparseTensor`` ``adj`` in ``dtype`` (sharing its
    row pointers and column indices), or ``None`` when ``adj`` is not symmetric. The symmetry
    check and the tensor are cached per ``adj`` and ``dtype``."""
    entry = _csr_cache_entry(adj)
    if entry.symmetric is None:
        entry.symmetric = is_symmetric(adj)
    if not entry.symmetric:
        return None
    if dtype not in entry.csr:
        rowptr, col, value = adj.storage.rowptr(), adj.storage.col(), adj.storage.value()
        value = torch.ones(col.numel(), dtype=dtype, device=col.device) if value is None else value.to(dtype)
        entry.csr[dtype] = csr_matrix(rowptr, col, value.detach(), tuple(adj.sizes()))
    return entry.csr[dtype]


def csr_matrix(crow: Tensor, col: Tensor, value: Tensor, size: Tuple[int, int]) -> Tensor:
    """A torch sparse CSR matrix from checked parts (no invariant check, no beta notice): the
    layout of the fast sparse products on CPU."""
    with warnings.catch_warnings():  # torch's one-time "CSR support is in beta" notice
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, value, size, check_invariants=False)


def is_symmetric(adj: "SparseTensor") -> bool:
    """Whether the square ``SparseTensor`` equals its transpose: its CSR entry list equals the CSR
    list of the transpose, which the cached CSC permutation gives without building the
    transpose."""
    if adj.size(0) != adj.size(1):
        return False
    storage = adj.storage
    perm = storage.csr2csc()
    row, col, value = storage.row(), storage.col(), storage.value()
    if not torch.equal(row, col[perm]) or not torch.equal(col, row[perm]):
        return False
    return value is None or torch.equal(value, value[perm])


def to_sparse_adjacency(edge_index: Adj, edge_weight: Optional[Tensor] = None, *, num_nodes: int) -> "SparseTensor":
    r"""The checked ``[N, N]`` affinity :math:`\mathbf{W}` as a ``torch_sparse.SparseTensor``,
    ``W[i, j]`` at ``(row=i, col=j)``, from any ``Adj`` form (checked by :func:`as_coo`).

    Its CSR layout and CSC permutation (used by :func:`symmetric_csr` and by the backward pass of
    ``W @ S`` on directed graphs) are built here, once per graph, not once per training step.
    Unweighted graphs keep ``value=None``, so that ``torch_sparse`` skips the value gather.
    """
    if is_sparse_tensor(edge_index) and edge_weight is None:
        as_coo(edge_index, None, num_nodes=num_nodes)  # validate only
        adj = edge_index
    else:
        row, col, weight = as_coo(edge_index, edge_weight, num_nodes=num_nodes)
        is_index = isinstance(edge_index, Tensor) and not edge_index.is_sparse and edge_index.layout == torch.strided
        value = weight if edge_weight is not None or not is_index else None
        adj = SparseTensor(row=row, col=col, value=value, sparse_sizes=(num_nodes, num_nodes))
    adj.storage.rowptr()
    adj.storage.csr2csc()
    return adj


def symmetric_degrees(adj: "SparseTensor") -> Tensor:
    r"""The degrees ``[N]`` of the symmetrized affinity :math:`(\mathbf{W} + \mathbf{W}^{\top})/2`
    (row plus column sums, halved), as the loss defines them; ``W 1`` for an undirected graph."""
    return (adj.sum(dim=0).float() + adj.sum(dim=1).float()) * 0.5


class GCNTerms(NamedTuple):
    r"""Per-node terms of the GCN normalization :math:`\hat{\mathbf{A}} =
    \tilde{\mathbf{D}}^{-1/2}(\mathbf{W} + \mathbf{I})\tilde{\mathbf{D}}^{-1/2}`, small enough
    to travel with every sampled batch as node attributes."""

    #: :math:`\tilde{d}_i^{-1/2}` (``1`` without normalization), ``[N]``.
    scale: Tensor
    #: The weight of the node's self-loop in :math:`\hat{\mathbf{A}}` before scaling, ``[N]``.
    loop: Tensor
    #: The number of incoming non-loop edges: the population a neighbour sampler draws from, ``[N]``.
    count: Tensor


def gcn_node_terms(row: Tensor, col: Tensor, weight: Optional[Tensor], num_nodes: int, *, normalize: bool = True,
                   improved: bool = False, add_self_loops: bool = True) -> GCNTerms:
    r"""The per-node terms of PyG's ``gcn_norm`` on the edges ``row -> col`` (weights ``weight``,
    ``None`` for unit weights), with its options: the degree of node :math:`i` is the weight of
    its incoming edges (column :math:`i` of :math:`\mathbf{W}`) plus its self-loop, which
    ``add_self_loops`` sets to ``1`` (``2`` if ``improved``), replacing any stored one. Without
    ``normalize`` the weights are used as they are, self-loops included.

    This is the one place the GCN normalization is written: full graphs
    (:func:`gcn_adj_t`), sampled batches (the same with reweighted neighbourhoods) and feature
    smoothing (:func:`~neuncut_pyg.propagation.propagate_features`) all read these terms.
    """
    value = weight
    on_diagonal = row == col
    if value is None:  # integer counts: no graph-sized array of ones
        loops_at = torch.bincount(col[on_diagonal], minlength=num_nodes)
        count = torch.bincount(col, minlength=num_nodes) - loops_at
        incoming, stored_loop = count.to(torch.float32), loops_at.to(torch.float32)
    else:
        off, value = ~on_diagonal, value.float()
        incoming = torch.zeros(num_nodes).index_add_(0, col[off], value[off])
        stored_loop = torch.zeros(num_nodes).index_add_(0, col[on_diagonal], value[on_diagonal])
        count = torch.bincount(col[off], minlength=num_nodes)
    if normalize and add_self_loops:
        loop = torch.full((num_nodes,), 2.0 if improved else 1.0)
    else:
        loop = stored_loop
    if not normalize:
        return GCNTerms(torch.ones(num_nodes), loop, count)
    scale = (incoming + loop).pow(-0.5)
    scale.masked_fill_(torch.isinf(scale), 0.0)
    return GCNTerms(scale, loop, count)


def gcn_adj_t(src: Tensor, dst: Tensor, weight: Optional[Tensor], terms: GCNTerms, num_nodes: int, *,
              dtype: torch.dtype = torch.float32, sampled: bool = False) -> "SparseTensor":
    r"""The GCN-normalized graph in PyG's ``adj_t`` layout (row = the node that aggregates) for
    the edges ``src -> dst`` of a graph or of a sampled batch, with the node ``terms`` of the
    *full* graph (:func:`gcn_node_terms`, indexed like the nodes here).

    Off-diagonal entries are :math:`w_{ji}\,\tilde{d}_i^{-1/2}\tilde{d}_j^{-1/2}`, the diagonal
    the self-loop term. With ``sampled``, each node's incoming edges are scaled by
    ``count / kept``, an unbiased estimate of its full neighbourhood sum; a node with its whole
    neighbourhood present then gets exactly its full-graph row.
    """
    off = src != dst
    src, dst = src[off], dst[off]
    value = torch.ones(src.numel(), dtype=dtype) if weight is None else weight[off].to(dtype)
    scale = terms.scale.to(dtype)
    if sampled:
        kept = torch.zeros(num_nodes, dtype=dtype).index_add_(0, dst, torch.ones_like(value))
        value = value * (terms.count.to(dtype) / kept.clamp_min(1))[dst]
    value = value * scale[dst] * scale[src]
    loops = torch.arange(num_nodes)
    return SparseTensor(row=torch.cat([dst, loops]), col=torch.cat([src, loops]),
                        value=torch.cat([value, terms.loop.to(dtype) * scale * scale]),
                        sparse_sizes=(num_nodes, num_nodes))
