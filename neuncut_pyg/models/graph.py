"""The graph as ``NeuNcut`` reads it from a ``Data`` object: checked features, the connectivity
as the user gave it, and the affinity :math:`\\mathbf{W}` built once, when first needed."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_sparse import SparseTensor

from neuncut_pyg.adjacency import Adj, to_sparse_adjacency

__all__ = ["Graph", "read_graph", "check_features"]


class Graph:
    """A checked graph: node features ``x`` ``[N, F]``, the connectivity ``edge_index`` in any
    ``Adj`` form with optional ``edge_weight``, and :attr:`adjacency`, its checked
    ``SparseTensor`` :math:`\\mathbf{W}` (built on first use and kept)."""

    def __init__(self, x: Tensor, edge_index: Adj, edge_weight: Optional[Tensor] = None) -> None:
        self.x = x
        self.edge_index = edge_index
        self.edge_weight = edge_weight
        self.num_nodes = x.size(0)
        self._adjacency: Optional[SparseTensor] = None

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


def read_graph(data: Data, in_channels: int, what: str) -> Graph:
    """The checked :class:`Graph` of a ``Data`` object, for ``fit`` or ``predict`` (``what``)."""
    if not isinstance(data, Data):
        raise TypeError(f"{what} expects a torch_geometric.data.Data graph, got {type(data).__name__}")
    x = getattr(data, "x", None)
    if x is None:
        raise ValueError(
            f"data has no node features (data.x is None): NeuNcut needs features [N, {in_channels}]; "
            "for a featureless graph use e.g. torch_geometric.transforms.OneHotDegree or LocalDegreeProfile"
        )
    check_features(x, in_channels)
    if getattr(data, "adj_t", None) is not None:
        # adj_t[i, j] = W[j, i]: transposing gives W in the row -> col layout of the loss.
        return Graph(x, data.adj_t.t())
    if getattr(data, "edge_index", None) is None:
        raise ValueError("data has neither edge_index nor adj_t: NeuNcut needs the graph")
    return Graph(x, data.edge_index, getattr(data, "edge_weight", None))
