r"""The encoders of :class:`~neuncut_pyg.models.NeuNcut`: a network plus the hooks that turn a
graph into what that network reads.

Each encoder wraps its network (``self.net``) and overrides the hooks where it differs, as
PyG's ``BasicGNN`` subclasses override ``init_conv``:

- :meth:`Encoder.node_features`: per-node input rows, computed once per graph: the features as
  given, or propagated and standardized (:class:`InputScaling`, fitted on the training graph):
  always for the MLP, in mini-batch fits for the GNNs;
- :meth:`Encoder.full_input`: what the network reads for a whole graph, built once per graph;
- :meth:`Encoder.sampling_data` / :meth:`Encoder.batch_input`: the graph a ``NeighborLoader``
  samples, and what the network reads for one of its batches;
- :meth:`Encoder.forward`: the network on an :class:`EncoderInput`.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional, Union

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn.inits import reset
from torch_geometric.nn.models import GCN, MLP, GraphSAGE
from torch_sparse import SparseTensor

from neuncut_pyg._validation import check_int, is_int
from neuncut_pyg.adjacency import Adj, GCNTerms, gcn_adj_t, gcn_node_terms
from neuncut_pyg.models.graph import Graph
from neuncut_pyg.models.input_scaling import InputScaling
from neuncut_pyg.propagation import propagate_features
from neuncut_pyg.sampling import sampling_data

__all__ = ["EncoderInput", "Encoder", "MessagePassingEncoder", "GCNEncoder", "SAGEEncoder", "PropagatedMLPEncoder",
           "CustomEncoder", "BUILTIN_ENCODERS", "build_encoder", "RAW_INPUT"]

# Below this share of non-zeros, a GCN encoder reads the features as a sparse CSR matrix:
# bag-of-words features then make the first layer's X @ Theta several times faster on CPU.
SPARSE_FEATURE_DENSITY = 0.05
# Steps of X <- A_hat X before the MLP encoder when no start chose a depth.
DEFAULT_PROPAGATION_STEPS = 2
#: The input depth of a GNN encoder that reads the features as given (fitted on the whole graph).
RAW_INPUT = -1


class EncoderInput(NamedTuple):
    """What an encoder's network reads: features, and the graph in the form it consumes."""

    x: Tensor
    graph: Optional[Adj] = None
    weight: Optional[Tensor] = None


class Encoder(torch.nn.Module):
    """The base of NeuNcut's encoders (see the module docs for the hooks)."""

    #: Hops of neighbours a node's output reads (``None``: unknown, for a custom module).
    hops: Optional[int] = 0
    #: Whether the runs of a spectral start are fitted to shrinking cores of it
    #: (:func:`~neuncut_pyg.start.core_fractions`).
    fits_start_cores: bool = True

    def __init__(self, net: torch.nn.Module, out_channels: Optional[int]) -> None:
        super().__init__()
        self.net = net
        #: Width of the output, followed by NeuNcut's head; ``None``: the output is the logits.
        self.out_channels = out_channels

    @property
    def name(self) -> str:
        """The ``encoder`` argument that builds this encoder (a class name for custom modules)."""
        raise NotImplementedError

    @property
    def rowwise(self) -> bool:
        """Whether a node's output depends on its own input row only (no neighbourhood)."""
        return self.hops == 0

    def reset_parameters(self) -> None:
        reset(self.net)

    def node_features(self, graph: Graph, *, fit: bool = False, sampled: bool = False,
                      start_steps: Optional[int] = None, start_features: Optional[Tensor] = None) -> Tensor:
        """Per-node input rows of ``graph``; ``fit`` first fits what the rows need to the
        training graph (``sampled``: for a mini-batch fit), and a spectral start offers its
        smoothing depth and features."""
        return graph.x

    def full_input(self, features: Tensor, graph: Graph) -> EncoderInput:
        """What the network reads for the whole of ``graph``, given its :meth:`node_features`."""
        return EncoderInput(features)

    def sampling_data(self, features: Tensor, graph: Graph) -> Data:
        """The graph a ``NeighborLoader`` samples (:func:`~neuncut_pyg.sampling.sampling_data`)."""
        dense = features.to_dense() if features.layout != torch.strided else features
        return sampling_data(dense, graph.edge_index, graph.edge_weight, num_nodes=graph.num_nodes)

    def batch_input(self, batch: Data) -> EncoderInput:
        """What the network reads for a sampled batch of :meth:`sampling_data`."""
        return EncoderInput(batch.x)

    def forward(self, inputs: EncoderInput) -> Tensor:
        return self.net(inputs.x, inputs.graph) if inputs.weight is None else self.net(*inputs)


class MessagePassingEncoder(Encoder):
    r"""The base of the GNN encoders: ``num_layers`` hops, and an input that depends on the mode
    of the fit. Fitted on the whole graph, the network reads the features as given. Fitted in
    mini-batches, it reads the start's smoothed features
    :math:`\hat{\mathbf{A}}^K\mathbf{X}`, scaled as the MLP's (:class:`InputScaling`): from
    raw features and sampled neighbourhoods, a shallow GNN cannot represent a start that smoothed
    :math:`K` hops, so its training ends far from it (``docs/scale.md``). The depth is fitted
    (:data:`RAW_INPUT`: as given) and every later graph is read the same way."""

    def __init__(self, net: torch.nn.Module, in_channels: int, hidden_channels: int, num_layers: int) -> None:
        super().__init__(net, hidden_channels)
        self.hops = num_layers
        self.input_scaling = InputScaling(max(in_channels, 0), RAW_INPUT)

    def node_features(self, graph: Graph, *, fit: bool = False, sampled: bool = False,
                      start_steps: Optional[int] = None, start_features: Optional[Tensor] = None) -> Tensor:
        if fit and not sampled:
            self.input_scaling.steps.fill_(RAW_INPUT)
        elif fit:
            return fit_input(self.input_scaling, graph, "auto", start_steps, start_features)
        return graph.x if self.input_scaling.depth == RAW_INPUT else _fitted_input(self.input_scaling, graph)


class GCNEncoder(MessagePassingEncoder):
    r"""PyG's :class:`~torch_geometric.nn.models.GCN`, with the GCN normalization done once per
    graph (:func:`~neuncut_pyg.adjacency.gcn_adj_t`) instead of at every call, and with the full
    graph's normalization in sampled batches, so that a node with its whole neighbourhood in a
    batch gets exactly its full-graph output."""

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int, *, dropout: float, act: Any,
                 normalize: bool = True, improved: bool = False, add_self_loops: bool = True, **kwargs: Any) -> None:
        super().__init__(GCN(in_channels, hidden_channels, num_layers, dropout=dropout, act=act, normalize=False,
                             **kwargs), in_channels, hidden_channels, num_layers)
        self.normalization = dict(normalize=normalize, improved=improved, add_self_loops=add_self_loops)

    @property
    def name(self) -> str:
        return "gcn"

    def full_input(self, features: Tensor, graph: Graph) -> EncoderInput:
        row, col, value = graph.adjacency.coo()
        terms = gcn_node_terms(row, col, value, graph.num_nodes, **self.normalization)
        adj_t = gcn_adj_t(row, col, value, terms, graph.num_nodes, dtype=_dtype_of(features))
        if (features.layout == torch.strided
                and int(torch.count_nonzero(features)) <= SPARSE_FEATURE_DENSITY * features.numel()):
            features = features.to_sparse_csr()
        return EncoderInput(features, adj_t)

    def sampling_data(self, features: Tensor, graph: Graph) -> Data:
        sampled = super().sampling_data(features, graph)
        src, dst = sampled.edge_index
        sampled.gcn_scale, sampled.gcn_loop, sampled.gcn_count = gcn_node_terms(
            src, dst, getattr(sampled, "edge_weight", None), graph.num_nodes, **self.normalization)
        return sampled

    def batch_input(self, batch: Data) -> EncoderInput:
        src, dst = batch.edge_index
        terms = GCNTerms(batch.gcn_scale, batch.gcn_loop, batch.gcn_count)
        return EncoderInput(batch.x, gcn_adj_t(src, dst, getattr(batch, "edge_weight", None), terms, batch.num_nodes,
                                               dtype=batch.x.dtype, sampled=True))


class SAGEEncoder(MessagePassingEncoder):
    """PyG's :class:`~torch_geometric.nn.models.GraphSAGE` on the weighted ``adj_t``; in sampled
    batches its mean aggregation over the sampled neighbours estimates the full mean."""

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int, *, dropout: float, act: Any,
                 **kwargs: Any) -> None:
        super().__init__(GraphSAGE(in_channels, hidden_channels, num_layers, dropout=dropout, act=act, **kwargs),
                         in_channels, hidden_channels, num_layers)

    @property
    def name(self) -> str:
        return "sage"

    def full_input(self, features: Tensor, graph: Graph) -> EncoderInput:
        return EncoderInput(features, graph.adjacency.t())

    def batch_input(self, batch: Data) -> EncoderInput:
        src, dst = batch.edge_index
        n = batch.num_nodes
        return EncoderInput(batch.x, SparseTensor(row=dst, col=src, value=getattr(batch, "edge_weight", None),
                                                  sparse_sizes=(n, n)))


class PropagatedMLPEncoder(Encoder):
    r"""PyG's :class:`~torch_geometric.nn.models.MLP` on features propagated over the graph once
    per graph, :math:`\hat{\mathbf{A}}^K\mathbf{X}`
    (:func:`~neuncut_pyg.propagation.propagate_features`), scaled by :class:`InputScaling`. A
    node's output needs no neighbourhood: mini-batches need one hop (for the loss) and new nodes
    cost one row. Its runs all fit the whole start (``docs/defaults.md``)."""

    fits_start_cores = False

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int, *, dropout: float, act: Any,
                 propagation_steps: Union[int, str, None] = "auto", **kwargs: Any) -> None:
        kwargs.setdefault("norm", None)  # memberships must not depend on which nodes share a batch
        super().__init__(MLP(in_channels=in_channels, hidden_channels=hidden_channels, out_channels=hidden_channels,
                             num_layers=num_layers, dropout=dropout, act=act, **kwargs), hidden_channels)
        if propagation_steps is None:
            propagation_steps = "auto"
        if propagation_steps != "auto" and (not is_int(propagation_steps) or propagation_steps < 0):
            raise ValueError(f"propagation_steps must be 'auto' or an integer >= 0, got {propagation_steps!r}")
        #: :math:`K`, or ``"auto"``: the depth of the spectral start (``2`` after a random start).
        self.propagation_steps = propagation_steps
        self.input_scaling = InputScaling(  # no columns yet for a model sized at fit (in_channels=-1)
            max(in_channels, 0), DEFAULT_PROPAGATION_STEPS if propagation_steps == "auto" else propagation_steps)

    @property
    def name(self) -> str:
        return "mlp"

    def node_features(self, graph: Graph, *, fit: bool = False, sampled: bool = False,
                      start_steps: Optional[int] = None, start_features: Optional[Tensor] = None) -> Tensor:
        if fit:
            return fit_input(self.input_scaling, graph, self.propagation_steps, start_steps, start_features)
        return _fitted_input(self.input_scaling, graph)

    def sampling_data(self, features: Tensor, graph: Graph) -> Data:
        return sampling_data(features, graph.edge_index, graph.edge_weight, num_nodes=graph.num_nodes)

    def forward(self, inputs: EncoderInput) -> Tensor:
        return self.net(inputs.x)


class CustomEncoder(Encoder):
    """A user's module called as ``module(x, edge_index)`` (``module(x, edge_index, edge_weight)``
    with weights), on the graph exactly as given and on each batch's sampled edges."""

    hops = None

    @property
    def name(self) -> str:
        return type(self.net).__name__

    def full_input(self, features: Tensor, graph: Graph) -> EncoderInput:
        return EncoderInput(features, graph.edge_index, graph.edge_weight)

    def batch_input(self, batch: Data) -> EncoderInput:
        return EncoderInput(batch.x, batch.edge_index, getattr(batch, "edge_weight", None))


#: The encoders ``NeuNcut(encoder=...)`` builds by name.
BUILTIN_ENCODERS = {"gcn": GCNEncoder, "sage": SAGEEncoder, "mlp": PropagatedMLPEncoder}


def build_encoder(encoder: Union[str, torch.nn.Module], in_channels: int, hidden_channels: int, num_layers: int, *,
                  dropout: float, act: Any, encoder_out_channels: Optional[int] = None,
                  propagation_steps: Union[int, str, None] = None, **kwargs: Any) -> Encoder:
    """The :class:`Encoder` of ``NeuNcut(encoder=...)``: a built-in one by name, or a user's module."""
    if propagation_steps is not None and encoder != "mlp":
        raise ValueError("propagation_steps is an option of encoder='mlp' (features propagated over the graph "
                         "before the MLP); GNN encoders propagate in their layers")
    if isinstance(encoder, str):
        name = encoder.lower()
        if name not in BUILTIN_ENCODERS:
            raise ValueError(f"encoder must be one of {sorted(BUILTIN_ENCODERS)} or a torch.nn.Module, got {encoder!r}")
        if encoder_out_channels is not None:
            raise ValueError("encoder_out_channels is for a custom encoder module; a built-in encoder's width "
                             "is hidden_channels")
        if name == "mlp":
            kwargs["propagation_steps"] = propagation_steps
        return BUILTIN_ENCODERS[name](in_channels, hidden_channels, num_layers, dropout=dropout, act=act, **kwargs)
    if isinstance(encoder, torch.nn.Module):
        if kwargs:
            raise ValueError(f"encoder options {sorted(kwargs)} apply to the built-in encoders only; configure a "
                             "custom encoder module yourself")
        if encoder_out_channels is not None:
            check_int(encoder_out_channels, "encoder_out_channels")
        return CustomEncoder(encoder, encoder_out_channels)
    raise TypeError(f"encoder must be a str or a torch.nn.Module, got {type(encoder).__name__}")


def fit_input(scaling: InputScaling, graph: Graph, steps: Union[int, str], start_steps: Optional[int],
               start_features: Optional[Tensor]) -> Tensor:
    """Fits ``scaling`` to the features of ``graph`` propagated ``steps`` times (``"auto"``: the
    start's depth, :data:`DEFAULT_PROPAGATION_STEPS` without one), reusing the start's features
    when they are at that depth; returns the scaled rows."""
    if steps == "auto":
        steps = DEFAULT_PROPAGATION_STEPS if start_steps is None else start_steps
    reuse = start_features is not None and start_steps == steps
    features = start_features if reuse else propagate_features(graph.x, graph.adjacency, steps=steps)
    return scaling.fit_transform(features, steps)


def _fitted_input(scaling: InputScaling, graph: Graph) -> Tensor:
    """The rows of ``graph`` at the depth and with the statistics fitted earlier."""
    return scaling(propagate_features(graph.x, graph.adjacency, steps=scaling.depth))


def _dtype_of(x: Tensor) -> torch.dtype:
    return x.dtype if x.is_floating_point() else torch.get_default_dtype()
