"""The graph as ``NeuNcut`` reads it from a ``Data`` object: checked features, the connectivity
as the user gave it, and the affinity :math:`\\mathbf{W}` built once, when first needed."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor
from torch_geometric.data import Data
from torch_sparse import SparseTensor

from neuncut_pyg._validation import is_int
from neuncut_pyg.adjacency import Adj, is_sparse_tensor, to_sparse_adjacency
from neuncut_pyg.models.featureless import node_keys

__all__ = ["Graph", "read_graph", "check_features"]


class Graph:
    """A checked graph: node features ``x`` ``[N, F]`` (``None`` for a graph without features,
    for which the model builds its own), the connectivity ``edge_index`` in any ``Adj`` form with
    optional ``edge_weight``, the nodes' ids (``data.node_id``, else ``0..N-1``) and
    :attr:`adjacency`, its checked ``SparseTensor`` :math:`\\mathbf{W}` (built on first use)."""

    def __init__(self, x: Optional[Tensor], edge_index: Adj, edge_weight: Optional[Tensor] = None, *,
                 num_nodes: Optional[int] = None, node_id: Optional[Tensor] = None) -> None:
        self.x = x
        self.edge_index = edge_index
        self.edge_weight = edge_weight
        self.num_nodes = x.size(0) if x is not None else int(num_nodes)
        self.node_id = node_id
        self._adjacency: Optional[SparseTensor] = None

    @property
    def node_keys(self) -> NDArray[np.uint64]:
        """The 64-bit keys of the nodes' ids (:func:`~neuncut_pyg.models.featureless.node_keys`)."""
        return node_keys(torch.arange(self.num_nodes) if self.node_id is None else self.node_id)

    @property
    def device(self) -> torch.device:
        """Where the graph's tensors live (its features', else its connectivity's)."""
        if self.x is not None:
            return self.x.device
        return self.edge_index.device() if is_sparse_tensor(self.edge_index) else self.edge_index.device

    @property
    def adjacency(self) -> SparseTensor:
        """:math:`\\mathbf{W}` as a checked ``SparseTensor`` (:func:`~neuncut_pyg.adjacency.to_sparse_adjacency`)."""
        if self._adjacency is None:
            self._adjacency = to_sparse_adjacency(self.edge_index, self.edge_weight, num_nodes=self.num_nodes)
        return self._adjacency


def check_features(x: object, in_channels: int) -> None:
    """Checks node features: a 2-D tensor with ``in_channels`` columns and at least one row;
    dense ones floating-point and finite."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"x must be a node feature matrix [N, {in_channels}], got shape {list(x.shape)}")
    if x.size(1) != in_channels:
        raise ValueError(f"x has {x.size(1)} features per node but the model was built with in_channels={in_channels}")
    if x.size(0) == 0:
        raise ValueError("x has no rows: the graph has no nodes")
    if x.layout == torch.strided:
        if not x.is_floating_point():
            raise ValueError(f"x must be a floating-point tensor, got {x.dtype}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("x contains NaN or infinite values")


def read_graph(data: Data, in_channels: int, what: str, *, featureless: bool = False) -> Graph:
    """The checked :class:`Graph` of a ``Data`` object, for ``fit`` or ``predict`` (``what``).

    ``featureless``: the model builds its own input, so ``data`` must come without ``x``, and
    with ``num_nodes`` (or ``node_id``); otherwise ``x`` of ``in_channels`` columns is read,
    any width for a model still to be sized (``in_channels=-1``).
    """
    if not isinstance(data, Data):
        raise TypeError(f"{what} expects a torch_geometric.data.Data graph, got {type(data).__name__}")
    x = getattr(data, "x", None)
    node_id = getattr(data, "node_id", None)
    num_nodes = None
    if x is None:
        if in_channels != -1 and not featureless:
            raise ValueError(
                f"data has no node features (data.x is None) but the model was built for in_channels={in_channels}: "
                "build NeuNcut(-1, k) (or use a model fitted without features) and it makes its own input from the "
                "graph (docs/featureless.md)")
        num_nodes = _featureless_num_nodes(data, node_id)
    else:
        if featureless:
            raise ValueError(f"data has node features, but this model was fitted without any (it builds its own "
                             f"input from node ids): give {what} a Data without x")
        check_features(x, x.size(1) if in_channels == -1 and x.dim() == 2 else in_channels)
    if getattr(data, "adj_t", None) is not None:
        # adj_t[i, j] = W[j, i]: transposing gives W in the row -> col layout of the loss.
        return Graph(x, data.adj_t.t(), num_nodes=num_nodes, node_id=node_id)
    if getattr(data, "edge_index", None) is None:
        raise ValueError("data has neither edge_index nor adj_t: NeuNcut needs the graph")
    return Graph(x, data.edge_index, getattr(data, "edge_weight", None), num_nodes=num_nodes, node_id=node_id)


def _featureless_num_nodes(data: Data, node_id: Optional[Tensor]) -> int:
    """:math:`N` of a ``Data`` without ``x``: its ``num_nodes``, or the length of its ``node_id``."""
    num_nodes = data["num_nodes"] if "num_nodes" in data.keys() else None
    if node_id is not None:
        if not isinstance(node_id, Tensor) or node_id.dim() != 1 or node_id.is_floating_point():
            raise ValueError(f"data.node_id must be a 1-D integer tensor of node ids, got {node_id!r}")
        if num_nodes is not None and num_nodes != node_id.numel():
            raise ValueError(f"data.node_id has {node_id.numel()} ids but data.num_nodes={num_nodes}")
        num_nodes = node_id.numel()
    if num_nodes is None:
        raise ValueError("data has neither x nor num_nodes: a graph without features needs data.num_nodes "
                         "(isolated nodes are not in edge_index)")
    if not is_int(num_nodes) or num_nodes < 1:
        raise ValueError(f"data.num_nodes must be a positive integer, got {num_nodes!r}")
    return int(num_nodes)
