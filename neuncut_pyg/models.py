r"""NeuNcut: a graph neural network trained to minimise the relaxed normalized cut.

:class:`NeuNcut` maps node features and the graph to soft cluster memberships

.. math::
    \mathbf{S} = \mathrm{softmax}\big(\mathrm{Lin}(\mathrm{Dropout}(\sigma(
        \mathrm{GNN}(\mathbf{X}, \mathbf{W}))))\big) \in [0, 1]^{N \times k}

and is trained, without labels, on :func:`~neuncut_pyg.loss.relaxed_ncut_loss`
(He et al., *Neural Normalized Cut*, Pattern Recognition 2025). Being a network rather than a
partition, it also assigns nodes it never saw in training: :meth:`NeuNcut.predict` on a new graph.
"""
from __future__ import annotations

import copy
import warnings
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn.inits import reset
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.models import GCN, MLP, GraphSAGE
from torch_geometric.nn.resolver import activation_resolver
from torch_sparse import SparseTensor

from neuncut_pyg.adjacency import Adj, as_coo, is_sparse_tensor
from neuncut_pyg.baselines import SmoothedFeatureClustering, partition_core, smoothed_feature_clustering
from neuncut_pyg.gamma import auto_gamma
from neuncut_pyg.loss import ncut_statistics, relaxed_ncut_loss, validate_gamma
from neuncut_pyg.propagation import propagate_features
from neuncut_pyg.sampling import batch_estimate, sampling_data
from neuncut_pyg.train import (
    STATISTICS_MODES,
    TrainHistory,
    to_sparse_adjacency,
    train_full_batch,
    train_mini_batch,
    train_to_partition,
)

__all__ = ["NeuNcut", "propagate_features"]

_ENCODERS = {"gcn": GCN, "sage": GraphSAGE, "mlp": MLP}

# Below this share of non-zeros, a GCN encoder reads the features as a sparse CSR matrix during
# fit/predict. Bag-of-words features (Cora: 1.3%, CiteSeer: 0.9%) then make the first layer's
# X @ Theta about five times faster on CPU; denser features gain nothing from it.
_SPARSE_FEATURE_DENSITY = 0.05

# Steps of X <- A_hat X before the MLP encoder.
_DEFAULT_PROPAGATION_STEPS = 2

# Neighbours sampled per node and hop when fit() gets a batch_size but no num_neighbors.
_DEFAULT_FANOUT = 10
#: Starts of fit(init=...): "auto" resolves to one of the others (see _resolve_init).
INIT_MODES = ("auto", "random", "spectral")
# Cross-entropy steps, learning rate and weight decay that fit the network to the start
# partition. Fitted to all nodes, 30 steps did as well as 100 (NOTES.md, experiment 10), and
# more cost time at scale (200 steps: +9 s of a 21 s fit at ogbn-arxiv size). Fitted to a core,
# more steps and the weight decay are what let the Ncut training place the other nodes well
# (Cora, a quarter of each cluster: final loss 0.50-0.51 with 200 steps at 5e-4, 0.52 with 30
# steps at 5e-4, 0.54 with 200 steps and none; experiment 14).
_INIT_STEPS = 30
_INIT_CORE_STEPS = 200
_INIT_LR = 1e-2
_INIT_WEIGHT_DECAY = 5e-4
# k-means restarts per smoothing depth of the start: 3 chose the same depths and partitions as 10
# on Cora and CiteSeer (seeds 0-2), and k-means is most of the start's cost on large graphs
# (169k nodes, k = 40: 20 s a depth with 3 restarts, 68 s with 10); 1 picked a poor depth on Cora.
_INIT_KMEANS_RESTARTS = 3
# Above this many nodes the start tries the depths of its grid only, without the refinement
# between them: on an ogbn-arxiv-sized planted graph the refinement nearly doubled the start's
# cost (27.5 s vs 15.5 s) and chose the same depth; on Cora it found depth 7 (NMI 0.548) next
# to the grid's 8 (0.538).
_INIT_REFINE_MAX_NODES = 50_000
# Run r of a spectral start is fitted to the core of each start cluster, the share
# _INIT_CORE_SHRINK ** r of its nodes deepest inside it (run 0: all of them); the relaxed Ncut
# places the rest. On Cora the runs fitted to a quarter of each cluster end at the lowest loss
# (0.50-0.51 vs 0.54 for all nodes, seeds 0-2) and NMI 0.57-0.58 (against 0.55); on CiteSeer the run
# fitted to all nodes ends lowest (0.15 vs 0.19-0.23) and is kept (NOTES.md, experiment 14).
# Not for encoder="mlp": on smoothed features the core runs end at lower losses by following the
# graph alone (CiteSeer: Ncut 0.150 -> 0.130, NMI 0.411 -> 0.367, 5 seeds), so its runs all fit
# the whole start.
_INIT_CORE_SHRINK = 0.5
# Nodes per cross-entropy step when an MLP is fitted to the start on a larger graph.
_INIT_BATCH_NODES = 20_000
# Standard deviations at or below this leave a column of the MLP's input unscaled.
_MIN_INPUT_SCALE = 1e-12


class NeuNcut(torch.nn.Module):
    r"""Neural Normalized Cut (NeuNcut) for node clustering, from the `"Neural Normalized Cut:
    A Differential and Generalizable Approach for Spectral Clustering"
    <https://arxiv.org/abs/2503.09260>`_ paper (He et al., Pattern Recognition 2025).

    A GNN encoder, an activation, dropout and a linear head give soft memberships

    .. math::
        \mathbf{S} = \mathrm{softmax}\big(\mathrm{Lin}(\mathrm{Dropout}(\sigma(
            \mathrm{GNN}(\mathbf{X}, \mathbf{W}))))\big),

    trained to minimise the relaxed normalized cut of the graph :math:`\mathbf{W}`
    (:func:`~neuncut_pyg.loss.relaxed_ncut_loss`):

    .. math::
        \mathcal{L} = \sum_{j=1}^{k}
            \frac{\mathbf{s}_j^{\top}\mathbf{L}\,\mathbf{s}_j}{\mathbf{d}^{\top}\mathbf{s}_j}
            + \frac{\gamma}{2}\cdot\frac{1}{k}\left\|\mathbf{H}^{\top}\mathbf{D}\mathbf{H}
            - \mathbf{I}_k\right\|_F, \qquad
        \mathbf{H} = \mathbf{S}\,\mathrm{diag}(\mathbf{d}^{\top}\mathbf{S})^{-1/2}.

    The hard partition is :math:`\arg\max_j S_{ij}`. The model follows scikit-learn's habits:
    :meth:`fit` returns the model, :meth:`predict` gives labels, :meth:`predict_proba` gives
    :math:`\mathbf{S}`; attributes set by :meth:`fit` end in an underscore.

    **Defaults**, chosen without labels, from the loss and the discrete normalized cut (Ncut)
    of the argmax partition on Cora and CiteSeer (raw bag-of-words features, means over 4-20
    seeds):

    - ``gamma="auto"``: :func:`~neuncut_pyg.gamma.auto_gamma`, :math:`2k\sqrt{k-1}\,\rho`, the
      weight at which collapsing into one cluster costs as much as a random partition's Ncut
      (34 on Cora). The orthogonality term is a penalty: it makes the relaxation tight
      (:math:`\mathcal{L}_{\mathrm{orth}} = 0` exactly for one-hot :math:`\mathbf{S}`, where
      :math:`\mathcal{L}_{\mathrm{cut}}` is the discrete Ncut) and stops the collapse, and as in
      any penalty method the smallest weight that does so is wanted. A fixed constant cannot
      follow :math:`k`: the paper's 80 lets a 20-way planted partition collapse into one cluster.
      (On Cora and CiteSeer, a doubling grid had found 40 to be the smallest weight keeping the
      relaxed cut within 5% of the discrete one: 15-16% off at 20, 1-4% at 40.)
    - one GCN layer of 128 channels, SELU, dropout 0.5 before the head: the encoder of DMoN
      (Tsitsulin et al., JMLR 2023), which fits a similar spectral objective. Final loss by
      width: Cora 0.62 (64), 0.69 (128), 0.71 (256); CiteSeer 0.39 (128), 0.34 (256). The two
      graphs disagree; 128 is between, and half the cost of 256. Depth is the paper's and
      DMoN's single layer: a second one lowers the final loss (Cora 0.53, CiteSeer 0.24), but
      the Ncut rewards any extra smoothing over the graph (memberships constant on connected
      components reach Ncut 0), so the loss cannot referee the depth.
    - ``fit(epochs=300, lr=1e-3, n_init=3)``: Adam's default step size (3e-3 ended at a higher
      Ncut); three runs, the lowest final loss kept (see :meth:`fit`).
    - ``fit(init="auto")``: full-batch runs start from a spectral clustering of graph-smoothed
      features (:func:`~neuncut_pyg.baselines.smoothed_feature_clustering`) instead of random
      parameters. The relaxed Ncut is non-convex: on CiteSeer random starts end at a final
      loss of ~0.36 where the spectral start ends at ~0.15, and the lower minimum is the better
      clustering (NMI 0.27 -> 0.41; Cora 0.49 -> 0.575, 5 seeds). The smoothing depth of that
      start is chosen by the graph's modularity, which tracked the label scores in every
      experiment of ``benchmarks/explore_quality/NOTES.md``, where the graph's Ncut did not.
      With a GNN or custom encoder the three runs are fitted to the start, then to the halves
      and quarters of its clusters deepest inside them (on Cora the quarter-core run ends at
      the lowest loss and raises NMI from the start's 0.548 to 0.575; see :meth:`fit`).

    Args:
        in_channels (int): Size :math:`F` of each node's features.
        num_clusters (int): Number of clusters :math:`k \geq 2`.
        encoder (str or torch.nn.Module): ``"gcn"`` (PyG's :class:`~torch_geometric.nn.models.GCN`),
            ``"sage"`` (PyG's :class:`~torch_geometric.nn.models.GraphSAGE`), ``"mlp"`` (PyG's
            :class:`~torch_geometric.nn.models.MLP` over features propagated over the graph
            once per graph, :func:`propagate_features`: the fast path for mini-batches and new
            nodes, since a node's memberships then need no neighbourhood), or any module
            called as ``encoder(x, edge_index)`` (``encoder(x, edge_index, edge_weight)`` when
            weights are given). A custom module returns the logits ``[N, k]`` that the softmax
            turns into memberships; or, with ``encoder_out_channels`` set, hidden features
            ``[N, encoder_out_channels]`` that go through ``act``, dropout and a linear head
            as the built-in encoders' do. (default: ``"gcn"``)
        hidden_channels (int): Width of a built-in encoder's layers. (default: ``128``)
        num_layers (int): Number of layers of a built-in encoder (message-passing layers, or
            the MLP's linear layers for ``"mlp"``). (default: ``1``)
        dropout (float): Dropout on the encoder's output before the head (and between a
            built-in encoder's layers). (default: ``0.5``)
        act (str or Callable): Activation :math:`\sigma`, resolved by PyG's
            ``activation_resolver``. (default: ``"selu"``)
        gamma (float or str): Orthogonality weight :math:`\gamma` of the loss, or ``"auto"`` for
            :func:`~neuncut_pyg.gamma.auto_gamma` of the training graph (set as ``gamma_`` by
            :meth:`fit`). (default: ``"auto"``)
        encoder_out_channels (int, optional): For a custom ``encoder`` only: the width of its
            output, to be followed by the activation, dropout and a linear head to ``k``.
            (default: ``None``: the encoder returns logits)
        propagation_steps (int or str, optional): For ``encoder="mlp"`` only: the :math:`K` of
            :math:`\hat{\mathbf{A}}^K\mathbf{X}`, or ``"auto"``: the depth the spectral start
            of :meth:`fit` chose by modularity (whose smoothed features are then reused), or
            ``2`` (as SGC) when the fit starts at random. :meth:`fit` also standardizes the
            propagated features with their column means and deviations on the training graph
            (kept, like the depth, with the parameters and applied to every graph the model
            sees later); the fitted depth is ``propagation_steps_``. (default: ``"auto"``)
        **encoder_kwargs: Passed to the built-in encoder (e.g. ``norm="batch_norm"``,
            ``aggr="max"`` for ``"sage"``).

    Shapes:
        - **input:** node features :math:`(N, F)`, ``edge_index`` :math:`(2, E)` or a
          ``SparseTensor`` / torch sparse :math:`(N, N)`, optional ``edge_weight`` :math:`(E)`
        - **output:** memberships :math:`(N, k)`, rows summing to one

    Example:
        >>> model = NeuNcut(dataset.num_features, num_clusters=7).fit(data)
        >>> labels = model.predict(data)              # LongTensor [N]
        >>> s = model.predict_proba(data)             # [N, 7], rows sum to 1
        >>> model.loss_history_.loss[-1]
    """

    def __init__(
        self,
        in_channels: int,
        num_clusters: int,
        encoder: Union[str, torch.nn.Module] = "gcn",
        hidden_channels: int = 128,
        num_layers: int = 1,
        dropout: float = 0.5,
        act: Union[str, Any] = "selu",
        gamma: Union[float, str] = "auto",
        encoder_out_channels: Optional[int] = None,
        propagation_steps: Optional[int] = None,
        **encoder_kwargs: Any,
    ) -> None:
        super().__init__()
        _check_positive_int(in_channels, "in_channels")
        if not _is_int(num_clusters) or num_clusters < 2:
            raise ValueError(f"num_clusters must be an integer >= 2, got {num_clusters!r}")
        _check_positive_int(hidden_channels, "hidden_channels")
        _check_positive_int(num_layers, "num_layers")
        if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        if gamma != "auto":
            validate_gamma(gamma)
        if propagation_steps is not None and propagation_steps != "auto" and (
                not _is_int(propagation_steps) or propagation_steps < 0):
            raise ValueError(f"propagation_steps must be 'auto' or an integer >= 0, got {propagation_steps!r}")
        if propagation_steps is not None and encoder != "mlp":
            raise ValueError("propagation_steps is an option of encoder='mlp' (features propagated "
                             "over the graph before the MLP); GNN encoders propagate in their layers")

        self.in_channels = int(in_channels)
        self.num_clusters = int(num_clusters)
        self.hidden_channels = int(hidden_channels)
        self.num_layers = int(num_layers)
        self.dropout = float(dropout)
        self.gamma: Union[float, str] = gamma if gamma == "auto" else float(gamma)
        self.propagation_steps: Union[int, str] = 0
        if encoder == "mlp":
            self.propagation_steps = "auto" if propagation_steps in (None, "auto") else int(propagation_steps)
            # Fitted state of the MLP's input, saved with the parameters (state_dict): the
            # propagation depth in use and the standardization of the propagated features.
            initial_steps = _DEFAULT_PROPAGATION_STEPS if self.propagation_steps == "auto" else self.propagation_steps
            self.register_buffer("_input_steps", torch.tensor(initial_steps))
            self.register_buffer("_input_shift", torch.zeros(in_channels, dtype=torch.float64))
            self.register_buffer("_input_scale", torch.ones(in_channels, dtype=torch.float64))
        self.act = activation_resolver(act) if act is not None else None

        if isinstance(encoder, str):
            if encoder.lower() not in _ENCODERS:
                raise ValueError(f"encoder must be one of {sorted(_ENCODERS)} or a torch.nn.Module, got {encoder!r}")
            if encoder_out_channels is not None:
                raise ValueError("encoder_out_channels is for a custom encoder module; a built-in "
                                 "encoder's width is hidden_channels")
            self.encoder_name = encoder.lower()
            if self.encoder_name == "gcn":
                # GCNConv would renormalize the adjacency (self-loops, D^-1/2 A D^-1/2) at every
                # call; the model does it once per graph instead (see _prepare_graph), with the
                # same options, and the layers get the result.
                self._gcn_norm = dict(
                    normalize=encoder_kwargs.pop("normalize", True),
                    improved=encoder_kwargs.pop("improved", False),
                    add_self_loops=encoder_kwargs.pop("add_self_loops", True),
                )
                encoder_kwargs["normalize"] = False
            if self.encoder_name == "mlp":
                # No normalization layer: memberships must not depend on which nodes share a batch.
                encoder_kwargs.setdefault("norm", None)
                self.encoder = MLP(in_channels=in_channels, hidden_channels=hidden_channels,
                                   out_channels=hidden_channels, num_layers=num_layers,
                                   dropout=dropout, act=act, **encoder_kwargs)
            else:
                self.encoder = _ENCODERS[self.encoder_name](
                    in_channels, hidden_channels, num_layers, dropout=dropout, act=act, **encoder_kwargs
                )
            head_in: Optional[int] = hidden_channels
        elif isinstance(encoder, torch.nn.Module):
            if encoder_kwargs:
                raise ValueError(f"encoder options {sorted(encoder_kwargs)} apply to the built-in "
                                 "encoders only; configure a custom encoder module yourself")
            if encoder_out_channels is not None:
                _check_positive_int(encoder_out_channels, "encoder_out_channels")
            self.encoder_name = type(encoder).__name__
            self.encoder = encoder
            head_in = encoder_out_channels
        else:
            raise TypeError(f"encoder must be a str or a torch.nn.Module, got {type(encoder).__name__}")

        self.head = torch.nn.Linear(head_in, num_clusters) if head_in is not None else None
        self.gamma_: Optional[float] = None
        self.loss_history_: Optional[TrainHistory] = None
        self.objective_: Optional[float] = None
        self.init_objectives_: Optional[List[float]] = None
        self.init_core_fractions_: Optional[List[float]] = None
        self.labels_: Optional[Tensor] = None
        self.init_: Optional[str] = None
        self.init_clustering_ = None
        self.reset_parameters()

    @property
    def builtin_encoder(self) -> bool:
        """Whether the encoder is one of PyG's (``"gcn"``, ``"sage"``) rather than a user module."""
        return self.encoder_name in _ENCODERS

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module (an ``"mlp"`` encoder's fitted input
        depth and standardization are statistics of the training graph and stay)."""
        reset(self.encoder)
        if self.head is not None:
            self.head.reset_parameters()

    # ------------------------------------------------------------------------------------------
    # Forward
    # ------------------------------------------------------------------------------------------
    def forward(self, x: Tensor, edge_index: Adj, edge_weight: Optional[Tensor] = None) -> Tensor:
        r"""Soft memberships :math:`\mathbf{S}`.

        Args:
            x (torch.Tensor): Node features ``[N, F]`` (dense; sparse CSR for a ``"gcn"`` encoder).
            edge_index (torch.Tensor or SparseTensor): The graph: ``[2, E]`` indices, a
                ``SparseTensor`` in PyG's ``adj_t`` convention, or a torch sparse ``[N, N]``
                adjacency. A built-in encoder normalizes it as its layers expect.
            edge_weight (torch.Tensor, optional): Non-negative edge weights ``[E]``.

        Returns:
            torch.Tensor: Memberships ``[N, k]``; each row is a probability vector.
        """
        return self.logits(x, edge_index, edge_weight).softmax(dim=-1)

    def logits(self, x: Tensor, edge_index: Adj, edge_weight: Optional[Tensor] = None) -> Tensor:
        r"""The unnormalized scores ``[N, k]`` whose row-wise softmax is :math:`\mathbf{S}`."""
        self._check_features(x)
        x_in, graph, weight = self._prepare(x, edge_index, edge_weight)
        return self._logits(x_in, graph, weight)

    def _logits(self, x: Tensor, graph: Optional[Adj], weight: Optional[Tensor]) -> Tensor:
        """:meth:`logits` on inputs already made ready by :meth:`_prepare`."""
        if self.encoder_name == "mlp":
            h = self.encoder(x)
        else:
            h = self.encoder(x, graph) if weight is None else self.encoder(x, graph, weight)
        if self.head is not None:
            h = self.act(h) if self.act is not None else h
            h = F.dropout(h, p=self.dropout, training=self.training)
            h = self.head(h)
        if h.dim() != 2 or h.size(0) != x.size(0) or h.size(1) != self.num_clusters:
            raise ValueError(
                f"the encoder must return logits of shape [{x.size(0)}, {self.num_clusters}] "
                f"(or set encoder_out_channels to add a linear head), got {list(h.shape)}"
            )
        return h

    # ------------------------------------------------------------------------------------------
    # scikit-learn style estimator
    # ------------------------------------------------------------------------------------------
    def fit(
        self,
        data: Data,
        epochs: int = 300,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        progress: bool = True,
        *,
        n_init: int = 3,
        seed: Optional[int] = None,
        warm_start: bool = False,
        batch_size: Optional[int] = None,
        num_neighbors: Optional[List[int]] = None,
        statistics: str = "batch",
        distributed: bool = False,
        init: str = "auto",
    ) -> "NeuNcut":
        r"""Trains the model on one graph by gradient descent on the relaxed Ncut: full-batch, or
        in mini-batches sampled by PyG's :class:`~torch_geometric.loader.NeighborLoader`.

        **Full batch** (``batch_size=None``): every step sees the whole graph. The graph is
        converted once per fit into a ``torch_sparse.SparseTensor`` for the loss and, for a
        built-in encoder, into what its layers consume; both are reused at every step.

        **Mini-batch** (``batch_size=B``): each epoch visits every node once as a *seed* of a
        ``NeighborLoader`` batch; one Adam step per batch. The loss of a batch is not that of the
        sampled subgraph taken as a whole graph: each seed contributes its terms of the *full*
        graph's statistics, with its full-graph degree (a node attribute that travels with the
        batch) and its sampled neighbours reweighted into an unbiased estimate of its row of
        :math:`\mathbf{W}` (:mod:`neuncut_pyg.sampling`). How the batch estimates are combined
        across batches is ``statistics`` (:class:`~neuncut_pyg.train.StatisticsTracker`). The
        first hop of ``num_neighbors`` feeds the loss; the further hops feed the encoder, so a
        GNN encoder of :math:`L` layers needs :math:`L + 1` hops for the memberships of the
        seeds' neighbours to see :math:`L` hops themselves. ``encoder="mlp"`` needs one hop: its
        features are propagated over the full graph once per fit.

        Args:
            data (torch_geometric.data.Data): The graph, with node features ``x`` ``[N, F]`` and
                ``edge_index`` ``[2, E]`` (optional ``edge_weight`` ``[E]``) or ``adj_t``.
                Labels are never read. Mini-batch training expects an undirected graph (both
                directions stored, as PyG's ``to_undirected`` gives).
            epochs (int): Number of full-batch steps, or of passes over the nodes in mini-batch
                mode. (default: ``300``)
            lr (float): Adam learning rate. (default: ``1e-3``)
            weight_decay (float): Adam weight decay. (default: ``0.0``)
            progress (bool): Show a tqdm progress bar. (default: ``True``)
            n_init (int): Number of training runs from independent initializations; the run
                whose final memberships have the lowest full-graph loss :math:`\mathcal{L}`
                (evaluation mode) is kept, as :class:`sklearn.cluster.KMeans` keeps its
                lowest-inertia run. No labels are involved. (default: ``3``)
            seed (int, optional): Seeds the initializations, dropout and sampling (the global
                torch RNG is left as it was); equal seeds give equal models. (default: ``None``)
            warm_start (bool): Continue from the current parameters instead of re-initializing
                them (needs ``n_init=1``). (default: ``False``)
            init (str): Where each run starts. ``"random"``: freshly initialized parameters.
                ``"spectral"``: the network is first fitted by cross-entropy to a label-free
                partition, the spectral clustering of graph-smoothed features refined by
                merge-split moves (:func:`~neuncut_pyg.baselines.smoothed_feature_clustering`,
                computed once per fit and shared by the ``n_init`` runs), by Adam at
                ``lr=1e-2`` with weight decay ``5e-4``, ``30`` steps for the first run and
                ``200`` for the others
                (:func:`~neuncut_pyg.train.train_to_partition`; an ``"mlp"`` encoder on more
                than 20,000 nodes sees 20,000 random nodes per step); the relaxed Ncut is then
                minimized from there as usual. The runs differ in how much of the start they
                are fitted to: run :math:`r` (from 0) only to the core of each start cluster,
                the share :math:`2^{-r}` of its nodes deepest inside it on the start's embedding
                (:func:`~neuncut_pyg.baselines.partition_core`): all nodes, then halves, then
                quarters. The nodes left out, those nearest a boundary of the start, are placed
                by the network and the Ncut, and the run with the lowest loss is kept as for
                any restarts. On Cora the quarter-core run ends lowest (loss 0.50-0.52 against
                0.54-0.55 fitted to all nodes) with NMI 0.57-0.58 against 0.55; on CiteSeer the
                all-nodes run ends lowest (0.15 against 0.19-0.23) and is kept. An ``"mlp"``
                encoder's runs all fit the whole start: on its smoothed input the core runs
                reached lower losses by following the graph alone, at a lower NMI (CiteSeer
                0.411 -> 0.367). Above 50,000 nodes the start tries only its grid of depths,
                without the refinement between them. ``"auto"``: ``"spectral"`` for
                full-batch training, ``"random"`` for mini-batch, distributed or ``warm_start``
                fits (the start works on all nodes at once, which mini-batches avoid: on an
                ogbn-products-sized graph, mini-batches from the spectral start took 824 s and
                17.8 GiB against 656 s and 10 GiB from a random start). At that size the
                fastest recipe is full batch with ``encoder="mlp"`` and the spectral start,
                whose smoothed features the MLP then reads: 365 s, 10.7 GiB, NMI 0.981, against
                spectral clustering's 420 s and 0.930 (see the README).
                Measured over 5 seeds (``benchmarks/quality.py``): Cora NMI 0.49 -> 0.575,
                CiteSeer 0.27 -> 0.41, and on CiteSeer a much lower final loss (the random starts
                end in worse local minima). (default: ``"auto"``)
            batch_size (int, optional): Seed nodes per mini-batch; ``None`` trains full-batch.
                (default: ``None``)
            num_neighbors (List[int], optional): Neighbours sampled per node for each hop, ``-1``
                for all. (default: ``[10]`` per hop, ``num_layers + 1`` hops for a GNN encoder,
                one for ``"mlp"``)
            statistics (str): Mini-batch only: ``"batch"`` (each batch's own estimate),
                ``"running"`` (volumes from a moving average) or ``"full"`` (volumes from a full
                inference pass per epoch), the batch giving the gradient; see
                :class:`~neuncut_pyg.train.StatisticsTracker`, which also says why ``"batch"``
                is the default. (default: ``"batch"``)
            distributed (bool): Mini-batch only: train data-parallel over the default
                ``torch.distributed`` process group, called on every rank with the same arguments
                and graph. ``batch_size`` is then the seeds per step over *all* ranks (each rank
                draws ``ceil(batch_size / world_size)`` from its shard of a per-epoch permutation),
                the batch statistics are summed over the ranks before the ratio is taken, the
                model is wrapped in DDP, and the run selection is rank 0's; the fitted model is
                the same on every rank. See :mod:`neuncut_pyg.distributed`. (default: ``False``)

        Returns:
            NeuNcut: ``self``, in evaluation mode, with these attributes set:

            - ``gamma_`` (float): the orthogonality weight used (:func:`~neuncut_pyg.gamma.auto_gamma`
              of the graph when ``gamma="auto"``);
            - ``loss_history_`` (:class:`~neuncut_pyg.train.TrainHistory`): per-epoch ``loss``,
              ``cut``, ``orth`` of the kept run;
            - ``objective_`` (float): its final loss in evaluation mode, the selection score;
            - ``init_objectives_`` (List[float]): the final loss of every run, in order;
            - ``init_core_fractions_`` (List[float]): for a spectral start, the share of each
              start cluster every run was fitted to, in order (``None`` for random starts);
            - ``labels_`` (torch.Tensor): the cluster of each node of ``data`` ``[N]``, the argmax
              of the kept run's memberships (equal to ``predict(data)``);
            - ``init_`` (str): the start used, ``"random"`` or ``"spectral"``;
            - ``init_clustering_``: the :class:`~neuncut_pyg.baselines.SmoothedFeatureClustering`
              the runs started from (``None`` for random starts).

        Raises:
            ValueError: if ``data`` has no features, the feature size is not ``in_channels``,
                ``num_clusters`` exceeds the number of nodes, the graph is malformed, or a
                training setting is out of range.
        """
        x, graph, edge_weight = self._read(data, "fit")
        num_nodes = x.size(0)
        if self.num_clusters > num_nodes:
            raise ValueError(
                f"num_clusters={self.num_clusters} clusters cannot be formed from a graph of "
                f"{num_nodes} nodes: need num_clusters <= num_nodes"
            )
        if seed is not None and (not _is_int(seed) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        if not _is_int(n_init) or n_init < 1:
            raise ValueError(f"n_init must be a positive integer, got {n_init!r}")
        if warm_start and n_init > 1:
            raise ValueError("warm_start=True continues one run: it needs n_init=1")
        if batch_size is not None and (not _is_int(batch_size) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        if batch_size is None and num_neighbors is not None:
            raise ValueError("num_neighbors sets the sampling of mini-batches: give a batch_size too")
        if statistics not in STATISTICS_MODES:
            raise ValueError(f"statistics must be one of {list(STATISTICS_MODES)}, got {statistics!r}")
        if batch_size is not None:
            num_neighbors = self._check_num_neighbors(num_neighbors, "fit")
        if distributed:
            from neuncut_pyg import distributed as dist_utils

            dist_utils.check_fit_settings(batch_size)
        init = _resolve_init(init, batch_size=batch_size, distributed=distributed, warm_start=warm_start)

        adj = to_sparse_adjacency(graph, edge_weight, num_nodes=num_nodes)
        self.gamma_ = auto_gamma(self.num_clusters, adj, num_nodes=num_nodes) if self.gamma == "auto" else self.gamma
        best_state: Optional[Dict[str, Tensor]] = None
        best_history: Optional[TrainHistory] = None
        best_labels: Optional[Tensor] = None
        objectives: List[float] = []
        core_fractions: List[float] = []
        self.init_, self.init_clustering_ = init, None
        with torch.random.fork_rng(devices=_devices_of(x), enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            start_features: Optional[Tensor] = None
            if init == "spectral":
                self.init_clustering_, start_features = self._spectral_start(x, adj)
                start_labels = torch.from_numpy(self.init_clustering_.labels).to(x.device)
            # encoder="mlp" reads features propagated once per fit; the start's, when it chose
            # the same depth.
            mlp_input = self._mlp_input(x, adj, start_features, refit=not warm_start) \
                if self.encoder_name == "mlp" else None
            del start_features
            if batch_size is None:
                if mlp_input is None:
                    x_in, encoder_graph, encoder_weight = self._prepare(x, graph, edge_weight, adj=adj)
                else:
                    x_in, encoder_graph, encoder_weight = mlp_input, None, None
                model = _OnPreparedGraph(self, encoder_weight)

                def train_one_run(desc: str) -> TrainHistory:
                    return train_full_batch(model, x_in, adj, epochs=epochs, lr=lr, weight_decay=weight_decay,
                                            gamma=self.gamma_, encoder_adj=encoder_graph, progress=progress,
                                            desc=desc)

                def final_memberships() -> Tensor:
                    return model(x_in, encoder_graph)

                def distill_batches(target: Tensor) -> Iterator[Tuple[Tensor, Tensor]]:
                    labelled = (target >= 0).nonzero().view(-1)
                    while True:
                        if mlp_input is not None and num_nodes > _INIT_BATCH_NODES:
                            # Cross-entropy is a sum over nodes and an MLP maps rows on their
                            # own: a random sample of the fitted nodes per step fits the
                            # partition as well, at a fraction of a full pass.
                            rows = labelled[torch.randint(0, labelled.numel(), (_INIT_BATCH_NODES,),
                                                          device=labelled.device)]
                            yield model(x_in[rows], None), target[rows]
                        else:
                            yield model(x_in, encoder_graph), target
            else:
                from torch_geometric.loader import NeighborLoader

                # Batches carry raw features (propagated ones for "mlp"); GNN layers get each
                # batch's subgraph, normalized with the full graph's degrees (see _batch_graph).
                x_in = x if mlp_input is None else mlp_input
                sampled = self._sampling_data(x_in, graph, edge_weight, num_nodes)
                on_batch = _OnBatch(self)
                # wrap() gives the module to train in each run: distributed, DDP is built once and
                # each later run starts from rank 0's parameters, copied to every rank.
                wrap, estimate, reduce = (lambda: on_batch), (lambda s, batch: batch_estimate(s, batch, num_nodes)), None
                if distributed:
                    loader, estimate, reduce, wrap = dist_utils.mini_batch_setup(
                        on_batch, sampled, num_neighbors=num_neighbors, batch_size=batch_size, seed=seed)
                    progress = progress and dist_utils.is_main_process()
                else:
                    loader = NeighborLoader(sampled, num_neighbors=num_neighbors, batch_size=min(batch_size, num_nodes),
                                            shuffle=True)

                # Inference sees whole neighbourhoods over the hops the encoder reads (all but the loss's).
                inference_hops = None if self.builtin_encoder else [-1] * max(1, len(num_neighbors) - 1)

                def final_memberships() -> Tensor:
                    return self._proba_in_batches(sampled, batch_size, inference_hops)

                def distill_batches(target: Tensor) -> Iterator[Tuple[Tensor, Tensor]]:
                    while True:
                        for batch in loader:
                            seeds = batch.n_id[: batch.batch_size]
                            if bool((target[seeds] >= 0).any()):  # else no seed is fitted
                                yield on_batch(batch)[: batch.batch_size], target[seeds]

                def train_one_run(desc: str) -> TrainHistory:
                    return train_mini_batch(
                        wrap(), loader, estimate, reduce_statistics=reduce,
                        epochs=epochs, lr=lr, weight_decay=weight_decay, gamma=self.gamma_,
                        statistics=statistics, full_statistics=lambda: ncut_statistics(final_memberships(), adj),
                        progress=progress, desc=desc,
                    )

            for run in range(n_init):
                if not warm_start:
                    self.reset_parameters()
                if init == "spectral":
                    fraction = 1.0 if self.encoder_name == "mlp" else _INIT_CORE_SHRINK ** run
                    core = torch.from_numpy(partition_core(
                        self.init_clustering_.labels, self.init_clustering_.margins, fraction)).to(x.device)
                    core_fractions.append(fraction)
                    train_to_partition(self, distill_batches(start_labels.masked_fill(~core, -1)),
                                       steps=_INIT_STEPS if fraction == 1.0 else _INIT_CORE_STEPS, lr=_INIT_LR,
                                       weight_decay=_INIT_WEIGHT_DECAY)
                history = train_one_run("NeuNcut" if n_init == 1 else f"NeuNcut {run + 1}/{n_init}")
                self.eval()
                with torch.no_grad():
                    memberships = final_memberships()
                    objectives.append(float(relaxed_ncut_loss(memberships, adj, gamma=self.gamma_).loss))
                if distributed:  # every rank keeps the run rank 0 keeps
                    objectives[-1] = dist_utils.broadcast_object(objectives[-1])
                if objectives[-1] == min(objectives):
                    best_history = history
                    best_labels = memberships.argmax(dim=-1)
                    if n_init > 1:
                        best_state = copy.deepcopy(self.state_dict())
        if best_state is not None:
            self.load_state_dict(best_state)
        self.loss_history_ = best_history
        self.objective_ = min(objectives)
        self.init_objectives_ = objectives
        self.init_core_fractions_ = core_fractions or None
        self.labels_ = best_labels
        return self

    def fit_predict(self, data: Data, *args: Any, **kwargs: Any) -> Tensor:
        r"""Fits the model on ``data`` (arguments as :meth:`fit`) and returns the cluster of each
        of its nodes, ``labels_``: what :meth:`predict` gives on the training graph, without a
        second pass over it (for ``encoder="mlp"`` that pass re-propagates the features, minutes
        at ogbn-products size).

        Returns:
            torch.Tensor: Labels ``[N]`` (``int64``).
        """
        return self.fit(data, *args, **kwargs).labels_

    @torch.no_grad()
    def predict_proba(self, data: Data, batch_size: Optional[int] = None,
                      num_neighbors: Optional[List[int]] = None) -> Tensor:
        r"""Soft memberships :math:`\mathbf{S}` ``[N, k]`` of the nodes of ``data`` (evaluation
        mode, no gradients). ``data`` may be the training graph or a new one.

        Args:
            data (torch_geometric.data.Data): The graph, as for :meth:`fit`.
            batch_size (int, optional): Assign the nodes in batches of this many, so that memory
                follows the batch (and its neighbourhood), not the graph. A GNN encoder then sees
                each node's full neighbourhood (``NeighborLoader`` with ``-1`` per layer) and its
                GCN normalization uses full-graph degrees, so the result equals the full-batch one.
                ``encoder="mlp"`` propagates the features once and maps them in row chunks.
                (default: ``None``: all nodes at once)
            num_neighbors (List[int], optional): For a custom encoder in batches, the hops it
                needs (e.g. ``[-1, -1]`` for two message-passing layers).
        """
        x, graph, edge_weight = self._read(data, "predict")
        if batch_size is not None and (not _is_int(batch_size) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        was_training = self.training
        self.eval()
        try:
            if batch_size is None:
                x_in, encoder_graph, encoder_weight = self._prepare(x, graph, edge_weight)
                return self._logits(x_in, encoder_graph, encoder_weight).softmax(dim=-1)
            if self.encoder_name == "mlp":  # rows are independent once propagated: no sampler
                x_in = self._propagate(x, to_sparse_adjacency(graph, edge_weight, num_nodes=x.size(0)))
                return self._mlp_proba_in_chunks(x_in, batch_size)
            sampled = self._sampling_data(x, graph, edge_weight, x.size(0))
            return self._proba_in_batches(sampled, batch_size, num_neighbors)
        finally:
            self.train(was_training)

    def predict(self, data: Data, batch_size: Optional[int] = None) -> Tensor:
        r"""Hard cluster labels ``[N]`` (``LongTensor``, values in ``0..k-1``): the argmax of
        :meth:`predict_proba` (``batch_size`` as there). Some ids may be unused if clusters
        came out empty."""
        return self.predict_proba(data, batch_size=batch_size).argmax(dim=-1)

    # ------------------------------------------------------------------------------------------
    # Mini-batches
    # ------------------------------------------------------------------------------------------
    def _check_num_neighbors(self, num_neighbors: Optional[List[int]], what: str) -> List[int]:
        hops = self.num_layers + 1 if self.encoder_name in ("gcn", "sage") else 1
        if num_neighbors is None:
            if not self.builtin_encoder:
                raise ValueError(f"{what} in mini-batches with a custom encoder needs num_neighbors: "
                                 "the hops of neighbours its layers read, plus one for the loss")
            return [_DEFAULT_FANOUT] * hops
        if (not isinstance(num_neighbors, (list, tuple)) or not num_neighbors
                or not all(_is_int(m) and (m == -1 or m >= 1) for m in num_neighbors)):
            raise ValueError(f"num_neighbors must be a non-empty list of positive integers (or -1 for "
                             f"all), got {num_neighbors!r}")
        if self.builtin_encoder and len(num_neighbors) < hops:
            raise ValueError(
                f"num_neighbors={list(num_neighbors)} has {len(num_neighbors)} hop(s) but the "
                f"{self.encoder_name.upper()} encoder needs {hops}: one for the loss plus one per "
                "message-passing layer"
            )
        return list(num_neighbors)

    def _sampling_data(self, x_in: Tensor, graph: Adj, edge_weight: Optional[Tensor], num_nodes: int) -> Data:
        """:func:`~neuncut_pyg.sampling.sampling_data` plus the full-graph GCN normalization."""
        if x_in.layout != torch.strided:
            x_in = x_in.to_dense()
        sampled = sampling_data(x_in, graph, edge_weight, num_nodes=num_nodes)
        if self.encoder_name == "gcn":
            sampled.gcn_scale, sampled.gcn_loop, sampled.gcn_count = _gcn_node_terms(
                sampled.edge_index, getattr(sampled, "edge_weight", None), num_nodes, **self._gcn_norm)
        return sampled

    def _batch_graph(self, batch: Data) -> Tuple[Tensor, Optional[Adj], Optional[Tensor]]:
        """``(x, graph, weight)`` of a ``NeighborLoader`` batch, as :meth:`_logits` takes them."""
        if self.encoder_name == "mlp":
            return batch.x, None, None
        if not self.builtin_encoder:
            return batch.x, batch.edge_index, getattr(batch, "edge_weight", None)
        n = batch.num_nodes
        src, dst = batch.edge_index
        weight = getattr(batch, "edge_weight", None)
        if self.encoder_name == "sage":  # mean aggregation: the sampled mean estimates the full one
            return batch.x, SparseTensor(row=dst, col=src, value=weight, sparse_sizes=(n, n)), None
        # GCN with the full graph's normalization, so that a node with its whole neighbourhood in
        # the batch gets exactly its full-graph output; sampled neighbourhoods are reweighted by
        # (neighbours) / (neighbours kept), an unbiased estimate of the full sum.
        off = src != dst
        src, dst = src[off], dst[off]
        value = torch.ones(src.numel(), dtype=batch.x.dtype) if weight is None else weight[off].to(batch.x.dtype)
        kept = torch.zeros(n, dtype=value.dtype).index_add_(0, dst, torch.ones_like(value))
        rate = batch.gcn_count.to(value.dtype) / kept.clamp_min(1)
        scale = batch.gcn_scale.to(value.dtype)
        value = value * rate[dst] * scale[dst] * scale[src]
        loops = torch.arange(n)
        adj_t = SparseTensor(row=torch.cat([dst, loops]), col=torch.cat([src, loops]),
                             value=torch.cat([value, batch.gcn_loop.to(value.dtype) * scale * scale]),
                             sparse_sizes=(n, n))
        return batch.x, adj_t, None

    def _proba_in_batches(self, sampled: Data, batch_size: int, num_neighbors: Optional[List[int]]) -> Tensor:
        """Memberships of every node of ``sampled``, ``batch_size`` seeds at a time, each with
        its full neighbourhood (no gradients; the caller sets the mode)."""
        if self.encoder_name == "mlp":
            return self._mlp_proba_in_chunks(sampled.x, batch_size)
        num_nodes = sampled.num_nodes
        out = torch.empty(num_nodes, self.num_clusters, dtype=sampled.x.dtype)
        with torch.no_grad():
            from torch_geometric.loader import NeighborLoader

            if num_neighbors is None:
                if not self.builtin_encoder:
                    raise ValueError("predicting in batches with a custom encoder needs num_neighbors "
                                     "(e.g. [-1, -1] for two message-passing layers)")
                num_neighbors = [-1] * self.num_layers
            loader = NeighborLoader(sampled, num_neighbors=num_neighbors, batch_size=batch_size, shuffle=False)
            for batch in loader:
                x, graph, weight = self._batch_graph(batch)
                s = self._logits(x, graph, weight)[: batch.batch_size].softmax(dim=-1)
                out[batch.n_id[: batch.batch_size]] = s
        return out

    def _mlp_proba_in_chunks(self, x_in: Tensor, batch_size: int) -> Tensor:
        """Memberships of ``encoder="mlp"`` from propagated features, ``batch_size`` rows at a time."""
        num_nodes = x_in.size(0)
        out = torch.empty(num_nodes, self.num_clusters, dtype=x_in.dtype)
        with torch.no_grad():
            for start in range(0, num_nodes, batch_size):
                rows = slice(start, min(start + batch_size, num_nodes))
                out[rows] = self._logits(x_in[rows], None, None).softmax(dim=-1)
        return out

    # ------------------------------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------------------------------
    def _read(self, data: Data, what: str) -> Tuple[Tensor, Adj, Optional[Tensor]]:
        """The checked ``(x, graph, edge_weight)`` of a ``Data`` object."""
        if not isinstance(data, Data):
            raise TypeError(f"{what} expects a torch_geometric.data.Data graph, got {type(data).__name__}")
        x = getattr(data, "x", None)
        if x is None:
            raise ValueError(
                f"data has no node features (data.x is None): NeuNcut needs features [N, {self.in_channels}]; "
                "for a featureless graph use e.g. torch_geometric.transforms.OneHotDegree or LocalDegreeProfile"
            )
        self._check_features(x)
        edge_weight = getattr(data, "edge_weight", None)
        if getattr(data, "adj_t", None) is not None:
            # adj_t[i, j] = W[j, i]: transposing gives W in the row -> col layout of the loss.
            return x, data.adj_t.t(), None
        if getattr(data, "edge_index", None) is None:
            raise ValueError("data has neither edge_index nor adj_t: NeuNcut needs the graph")
        return x, data.edge_index, edge_weight

    def _check_features(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 2:
            raise ValueError(f"x must be a node feature matrix [N, {self.in_channels}], got shape {list(x.shape)}")
        if x.size(1) != self.in_channels:
            raise ValueError(
                f"x has {x.size(1)} features per node but the model was built with "
                f"in_channels={self.in_channels}"
            )
        if x.size(0) == 0:
            raise ValueError("x has no rows: the graph has no nodes")
        if x.layout == torch.strided:
            if not x.is_floating_point():
                raise ValueError(f"x must be a floating-point tensor, got {x.dtype}")
            if not bool(torch.isfinite(x).all()):
                raise ValueError("x contains NaN or infinite values")

    def _prepare(
        self,
        x: Tensor,
        edge_index: Adj,
        edge_weight: Optional[Tensor],
        *,
        adj: Optional[SparseTensor] = None,
    ) -> Tuple[Tensor, Optional[Adj], Optional[Tensor]]:
        """What :meth:`_logits` takes, computed once per graph: ``(x, graph, weight)``.

        A built-in GNN encoder gets a ``SparseTensor`` in PyG's ``adj_t`` layout with the weights
        as its values (GraphSAGE's layers take no ``edge_weight`` argument, but use values),
        GCN-normalized for ``"gcn"``. ``"mlp"`` gets the propagated features and no graph. A
        custom encoder gets the graph exactly as given. ``adj`` is the checked affinity ``W``
        when the caller has built it already.
        """
        num_nodes = x.size(0)
        if not self.builtin_encoder:
            return x, edge_index, edge_weight
        if self.encoder_name == "mlp":
            if adj is None:
                adj = to_sparse_adjacency(edge_index, edge_weight, num_nodes=num_nodes)
            return self._propagate(x, adj), None, None
        if is_sparse_tensor(edge_index) and edge_weight is None and adj is None:
            adj_t = edge_index  # already PyG's adj_t
            to_sparse_adjacency(adj_t, num_nodes=num_nodes)  # checks it
        else:
            if adj is None:
                adj = to_sparse_adjacency(edge_index, edge_weight, num_nodes=num_nodes)
            adj_t = adj.t()
        if self.encoder_name == "gcn" and self._gcn_norm["normalize"]:
            adj_t = gcn_norm(adj_t, None, num_nodes, self._gcn_norm["improved"],
                             self._gcn_norm["add_self_loops"], dtype=_dtype_of(x))
        return self._prepare_features(x), adj_t, None

    def _spectral_start(self, x: Tensor, adj: SparseTensor) -> Tuple[SmoothedFeatureClustering, Optional[Tensor]]:
        """The partition ``init="spectral"`` starts from, and its smoothed features when
        ``encoder="mlp"`` may read them (``None`` otherwise)."""
        with warnings.catch_warnings():
            # Smoothing can leave fewer than k distinct feature directions (a regular graph,
            # constant features): k-means then warns of fewer clusters. The start may have fewer
            # clusters; the Ncut training splits them.
            warnings.simplefilter("ignore", ConvergenceWarning)
            # On the fit's own SparseTensor (weights included): a second copy of the graph
            # would cost GBs at ogbn-products size.
            start, features = smoothed_feature_clustering(
                x, adj, self.num_clusters, n_init=_INIT_KMEANS_RESTARTS, seed=int(torch.randint(0, 2**31 - 1, ())),
                refine=x.size(0) <= _INIT_REFINE_MAX_NODES, return_features=True)
        return start, (features if self.encoder_name == "mlp" else None)

    @property
    def propagation_steps_(self) -> int:
        """``encoder="mlp"``: the depth :math:`K` its input is propagated to, the fitted one for
        ``propagation_steps="auto"`` (``2`` before a fit)."""
        if self.encoder_name != "mlp":
            raise AttributeError("propagation_steps_ is an attribute of encoder='mlp' models")
        return int(self._input_steps)

    def _mlp_input(self, x: Tensor, adj: SparseTensor, start_features: Optional[Tensor], *, refit: bool) -> Tensor:
        """The ``"mlp"`` encoder's input in a fit: with ``refit``, its depth (``"auto"``: the
        spectral start's, whose features ``start_features`` are then used) and its
        standardization are fitted to this graph first."""
        if not refit:  # warm start: the depth and statistics of the earlier fit
            return self._propagate(x, adj)
        steps = self.propagation_steps
        if steps == "auto":
            steps = self.init_clustering_.steps if self.init_clustering_ is not None else _DEFAULT_PROPAGATION_STEPS
        self._input_steps.fill_(steps)
        reuse = start_features is not None and self.init_clustering_.steps == steps
        features = start_features if reuse else propagate_features(x, adj, steps=steps)
        rows = _unit_rows(features, in_place=steps > 0)  # zero steps may be x itself
        shift, scale = _column_moments(rows)
        scale[~(scale > _MIN_INPUT_SCALE)] = 1.0  # constant columns carry nothing: left as they are
        self._input_shift.copy_(shift)
        self._input_scale.copy_(scale)
        return self._shift_and_scale(rows)

    def _standardize(self, features: Tensor, *, in_place: bool) -> Tensor:
        r"""Rows scaled to unit length, then ``(rows - shift) / scale`` with the column statistics
        fitted to the training graph's propagated features. After :math:`K` steps every column
        is close to a multiple of the graph's dominant eigenvector (rows scale with
        :math:`\sqrt{d_i}`) plus small cluster-specific deviations, and an MLP at Adam's step
        sizes learns little from inputs on that scale. Fitting the start on an ogbn-arxiv-sized
        graph at :math:`K = 8`: NMI 0.23 unscaled, 0.62 with standardized columns. On a
        2,000-node planted graph at :math:`K = 13`: 0.43 with standardized columns, 0.95 with
        unit rows first."""
        return self._shift_and_scale(_unit_rows(features, in_place=in_place))

    def _shift_and_scale(self, rows: Tensor) -> Tensor:
        """``(rows - shift) / scale``, in place on rows the caller owns."""
        return rows.sub_(self._input_shift.to(rows.dtype)).div_(self._input_scale.to(rows.dtype))

    def _propagate(self, x: Tensor, adj: SparseTensor) -> Tensor:
        """The ``"mlp"`` encoder's input: :func:`propagate_features` over the affinity to the
        fitted depth, standardized with the training graph's statistics."""
        steps = int(self._input_steps)
        # Zero steps may hand back x itself, which must not be modified.
        return self._standardize(propagate_features(x, adj, steps=steps), in_place=steps > 0)

    def _prepare_features(self, x: Tensor) -> Tensor:
        """Bag-of-words features as a CSR matrix for a GCN encoder (see _SPARSE_FEATURE_DENSITY)."""
        if (
            self.encoder_name == "gcn"
            and x.layout == torch.strided
            and int(torch.count_nonzero(x)) <= _SPARSE_FEATURE_DENSITY * x.numel()
        ):
            return x.to_sparse_csr()
        return x

    def __repr__(self) -> str:
        encoder = self.encoder_name.upper() if self.builtin_encoder else self.encoder_name
        shape = f", hidden_channels={self.hidden_channels}, num_layers={self.num_layers}" if self.builtin_encoder else ""
        if self.encoder_name == "mlp":
            shape += f", propagation_steps={self.propagation_steps!r}"
        return (
            f"{self.__class__.__name__}({self.in_channels}, num_clusters={self.num_clusters}, "
            f"encoder={encoder}{shape}, gamma={self.gamma})"
        )


def _gcn_node_terms(edge_index: Tensor, edge_weight: Optional[Tensor], num_nodes: int, *, normalize: bool,
                    improved: bool, add_self_loops: bool) -> Tuple[Tensor, Tensor, Tensor]:
    r"""Per-node terms of the full graph's GCN normalization, for batches to carry:
    ``(scale, loop, count)`` with ``scale`` :math:`= \tilde{d}_i^{-1/2}` (1 without
    normalization), ``loop`` the self-loop weight and ``count`` the number of incoming
    non-loop edges (the sampler's population), mirroring PyG's ``gcn_norm`` on ``adj_t``."""
    src, dst = edge_index
    weight = torch.ones(src.numel()) if edge_weight is None else edge_weight.float()
    off = src != dst
    in_weight = torch.zeros(num_nodes, dtype=weight.dtype).index_add_(0, dst[off], weight[off])
    count = torch.bincount(dst[off], minlength=num_nodes)
    if normalize and add_self_loops:  # gcn_norm's fill_diag replaces any existing self-loop weight
        loop = torch.full((num_nodes,), 2.0 if improved else 1.0, dtype=weight.dtype)
    else:
        loop = torch.zeros(num_nodes, dtype=weight.dtype).index_add_(0, dst[~off], weight[~off])
    if not normalize:  # the layers then use the weights as they are, self-loops included
        return torch.ones(num_nodes, dtype=weight.dtype), loop, count
    deg = in_weight + loop
    scale = deg.pow(-0.5)
    scale.masked_fill_(torch.isinf(scale), 0.0)
    return scale, loop, count


class _OnBatch(torch.nn.Module):
    """``model`` as ``train_mini_batch`` calls it: ``batch -> S`` for every node of the batch."""

    def __init__(self, model: NeuNcut) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Data) -> Tensor:
        return self.model._logits(*self.model._batch_graph(batch)).softmax(dim=-1)


class _OnPreparedGraph(torch.nn.Module):
    """``model`` as ``train_full_batch`` calls it, ``(x, graph) -> S``, on a prepared graph."""

    def __init__(self, model: NeuNcut, edge_weight: Optional[Tensor]) -> None:
        super().__init__()
        self.model = model
        self.edge_weight = edge_weight

    def forward(self, x: Tensor, graph: Adj) -> Tensor:
        return self.model._logits(x, graph, self.edge_weight).softmax(dim=-1)


def _resolve_init(init: str, *, batch_size: Optional[int], distributed: bool, warm_start: bool) -> str:
    """``"random"`` or ``"spectral"``: the start ``fit(init=init)`` uses with these settings."""
    if init not in INIT_MODES:
        raise ValueError(f"init must be one of {list(INIT_MODES)}, got {init!r}")
    if init == "auto":
        return "random" if (batch_size is not None or distributed or warm_start) else "spectral"
    if init == "spectral" and warm_start:
        raise ValueError("init='spectral' re-initializes the network, warm_start=True continues it: "
                         "choose one (init='random' with warm_start=True)")
    if init == "spectral" and distributed:
        raise ValueError("init='spectral' is not available with distributed=True: train the start on "
                         "one process (fit(init='spectral', epochs=...)) and continue distributed with "
                         "warm_start=True")
    return init


def _unit_rows(features: Tensor, *, in_place: bool) -> Tensor:
    """Rows scaled to unit Euclidean length (zero rows stay zero); a new tensor unless
    ``in_place``."""
    norms = features.norm(dim=1, keepdim=True)
    norms[norms == 0] = 1.0
    return features.div_(norms) if in_place else features / norms


def _column_moments(features: Tensor, chunk: int = 65536) -> Tuple[Tensor, Tensor]:
    """Column means and standard deviations ``[F]`` in float64, accumulated over row chunks: sums
    over millions of rows lose digits in float32, and a float64 copy of the whole matrix would
    cost GBs at ogbn-products size."""
    total = torch.zeros(features.size(1), dtype=torch.float64, device=features.device)
    squares = torch.zeros_like(total)
    for rows in features.split(chunk):
        rows = rows.to(torch.float64)
        total += rows.sum(dim=0)
        squares += (rows * rows).sum(dim=0)
    n = features.size(0)
    mean = total / n
    var = (squares / n - mean * mean).clamp_min(0.0) * (n / max(n - 1, 1))
    return mean, var.sqrt()


def _dtype_of(x: Tensor) -> torch.dtype:
    return x.dtype if x.is_floating_point() else torch.get_default_dtype()


def _devices_of(x: Tensor) -> list:
    return [x.device] if x.device.type == "cuda" else []


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_positive_int(value: object, name: str) -> None:
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
