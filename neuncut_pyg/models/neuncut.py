r"""NeuNcut: a graph neural network trained to minimise the relaxed normalized cut, as an
estimator with scikit-learn's habits (``fit`` returns the model, ``predict`` gives labels,
fitted attributes end in an underscore)."""
from __future__ import annotations

from typing import Any, List, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader
from torch_geometric.nn.resolver import activation_resolver
from torch_sparse import SparseTensor

from neuncut_pyg._validation import (
    check_int,
    check_num_neighbors,
    check_optional_int,
    check_probability,
    is_int,
)
from neuncut_pyg import distributed as dist
from neuncut_pyg.adjacency import Adj, symmetric_degrees
from neuncut_pyg.fitting import (
    DataParallel,
    FittingStrategy,
    FullBatch,
    KeptPartition,
    MiniBatch,
    SeedBatches,
    StartTarget,
    TrainSettings,
    fit_runs,
    never_worse_than_start,
)
from neuncut_pyg.gamma import auto_gamma
from neuncut_pyg.loss import validate_gamma
from neuncut_pyg.models.encoders import EncoderInput, build_encoder
from neuncut_pyg.models.featureless import (
    FEATURELESS_COMPONENTS_PER_CLUSTER,
    FEATURELESS_DIM_PER_CLUSTER,
    FEATURELESS_SHRINKAGE,
    FeaturelessInput,
)
from neuncut_pyg.models.fit_support import (
    FULL_BATCH_DEFAULTS,
    INIT_MODES,
    MINI_BATCH_DEFAULTS,
    OnRows,
    OnSeeds,
    evaluation,
    resolve_init,
    run_settings,
    seeded,
)
from neuncut_pyg.models.graph import Graph, check_features, read_graph
from neuncut_pyg.models.partitioned import PartitionedMixin
from neuncut_pyg.sampling import MembershipCache
from neuncut_pyg.start import CORE_SHRINK, core_fractions, spectral_start
from neuncut_pyg.start.graph import (
    DEFAULT_K_MAX,
    DEFAULT_K_MIN,
    check_k_bounds,
    choose_num_clusters,
    graph_spectral_start,
)

__all__ = ["NeuNcut", "INIT_MODES", "FULL_BATCH_DEFAULTS", "MINI_BATCH_DEFAULTS"]

# Neighbours sampled per node and message-passing layer when fit() gets no num_neighbors.
_DEFAULT_FANOUT = 10


class NeuNcut(PartitionedMixin, torch.nn.Module):
    r"""Neural Normalized Cut (NeuNcut) for node clustering, from the `"Neural Normalized Cut:
    A Differential and Generalizable Approach for Spectral Clustering"
    <https://arxiv.org/abs/2503.09260>`_ paper (He et al., Pattern Recognition 2025).

    An encoder, an activation, dropout and a linear head give soft memberships
    :math:`\mathbf{S} = \mathrm{softmax}(\mathrm{Lin}(\mathrm{Dropout}(\sigma(
    \mathrm{GNN}(\mathbf{X}, \mathbf{W})))))`, trained without labels to minimise the relaxed
    normalized cut of the graph :math:`\mathbf{W}` (:func:`~neuncut_pyg.loss.relaxed_ncut_loss`):

    .. math::
        \mathcal{L} = \sum_{j=1}^{k}
            \frac{\mathbf{s}_j^{\top}\mathbf{L}\,\mathbf{s}_j}{\mathbf{d}^{\top}\mathbf{s}_j}
            + \frac{\gamma}{2}\cdot\frac{1}{k}\left\|\mathbf{H}^{\top}\mathbf{D}\mathbf{H}
            - \mathbf{I}_k\right\|_F, \qquad
        \mathbf{H} = \mathbf{S}\,\mathrm{diag}(\mathbf{d}^{\top}\mathbf{S})^{-1/2}.

    The partition is :math:`\arg\max_j S_{ij}`. Being a network, not a partition, it assigns
    nodes it never saw by a forward pass (:meth:`predict` on a grown graph). The defaults were
    chosen without labels; ``docs/defaults.md`` gives each one's alternatives and measurements.

    **Graphs without features.** A ``Data`` without ``x`` gets the model's own input,
    node-id-keyed random vectors propagated and whitened
    (:class:`~neuncut_pyg.models.featureless.FeaturelessInput`, stored as
    ``featureless_input_`` so that :meth:`predict` featurizes a grown graph the same way).

    Args:
        in_channels (int): Size :math:`F` of each node's features, or ``-1``: sized at
            :meth:`fit`, from ``data.x`` or, for a ``Data`` without ``x``, the model's own input.
        num_clusters (int or str): Number of clusters :math:`k \geq 2`, or ``"auto"``: chosen at
            :meth:`fit` without labels, by the Bethe-Hessian count of the graph's communities
            clipped to ``[k_min, k_max]`` (:func:`~neuncut_pyg.start.graph.choose_num_clusters`),
            and set as ``num_clusters_``.
        encoder (str or torch.nn.Module): ``"gcn"`` (PyG's ``GCN``), ``"sage"`` (PyG's
            ``GraphSAGE``), ``"mlp"`` (PyG's ``MLP`` on features propagated once per graph: the
            fast path at scale), or any module called as ``encoder(x, edge_index[,
            edge_weight])`` returning logits ``[N, k]`` or features ``[N, encoder_out_channels]``.
            (default: ``"gcn"``)
        hidden_channels (int): Width of a built-in encoder's layers. (default: ``128``)
        num_layers (int): Layers of a built-in encoder. (default: ``1``)
        dropout (float): Dropout before the head (and between a built-in encoder's layers).
            (default: ``0.5``)
        act (str or Callable): Activation :math:`\sigma`. (default: ``"selu"``)
        gamma (float or str): Orthogonality weight :math:`\gamma`, or ``"auto"`` for
            :func:`~neuncut_pyg.gamma.auto_gamma` of the training graph (``gamma_``).
            (default: ``"auto"``)
        encoder_out_channels (int, optional): For a custom ``encoder``: the width of its output,
            followed by the activation, dropout and a linear head. (default: ``None``: logits)
        propagation_steps (int or str, optional): For ``encoder="mlp"``: :math:`K` of
            :math:`\hat{\mathbf{A}}^K\mathbf{X}`, or ``"auto"``, the depth the spectral start
            chose (``2`` after a random start); fitted as ``propagation_steps_``.
            (default: ``"auto"``)
        k_min (int, optional): With ``num_clusters="auto"``, the fewest clusters. (default: ``2``)
        k_max (int, optional): With ``num_clusters="auto"``, the most clusters. (default: ``100``)
        **encoder_kwargs: Passed to the built-in encoder (e.g. ``aggr="max"`` for ``"sage"``).

    Example:
        >>> model = NeuNcut(dataset.num_features, num_clusters=7).fit(data)
        >>> labels = model.predict(data)              # LongTensor [N]
        >>> s = model.predict_proba(data)             # [N, 7], rows sum to 1
    """

    def __init__(self, in_channels: int, num_clusters: Union[int, str], encoder: Union[str, torch.nn.Module] = "gcn",
                 hidden_channels: int = 128, num_layers: int = 1, dropout: float = 0.5, act: Union[str, Any] = "selu",
                 gamma: Union[float, str] = "auto", encoder_out_channels: Optional[int] = None,
                 propagation_steps: Union[int, str, None] = None, k_min: Optional[int] = None,
                 k_max: Optional[int] = None, **encoder_kwargs: Any) -> None:
        super().__init__()
        #: Whether the encoder is sized at fit (``in_channels=-1``).
        self.lazy = is_int(in_channels) and in_channels == -1
        self.in_channels = -1 if self.lazy else check_int(in_channels, "in_channels")
        if num_clusters == "auto":
            self.k_min = DEFAULT_K_MIN if k_min is None else k_min
            self.k_max = DEFAULT_K_MAX if k_max is None else k_max
            check_k_bounds(self.k_min, self.k_max)
        elif not is_int(num_clusters) or num_clusters < 2:
            raise ValueError(f"num_clusters must be an integer >= 2 or 'auto', got {num_clusters!r}")
        elif k_min is not None or k_max is not None:
            raise ValueError(f"k_min and k_max bound num_clusters='auto'; with num_clusters={num_clusters} leave them out")
        else:
            self.k_min = self.k_max = None
        self.num_clusters: Union[int, str] = num_clusters if num_clusters == "auto" else int(num_clusters)
        #: The number of clusters :math:`k` (chosen at fit for ``num_clusters="auto"``).
        self.num_clusters_: Optional[int] = None if num_clusters == "auto" else int(num_clusters)
        self.hidden_channels = check_int(hidden_channels, "hidden_channels")
        self.num_layers = check_int(num_layers, "num_layers")
        self.dropout = check_probability(dropout, "dropout")
        if gamma != "auto":
            validate_gamma(gamma)
        self.gamma: Union[float, str] = gamma if gamma == "auto" else float(gamma)
        self.act = activation_resolver(act) if act is not None else None
        self.encoder_kwargs = dict(encoder_kwargs)
        self._encoder_args = dict(encoder=encoder, act=act, encoder_out_channels=encoder_out_channels,
                                  propagation_steps=propagation_steps)
        self.encoder = self._build_encoder(self.in_channels)
        if self.encoder.out_channels is None and self.num_clusters == "auto":
            raise ValueError("num_clusters='auto' needs a head sized at fit: with a custom encoder returning logits, "
                             "give encoder_out_channels (its output width) so that NeuNcut adds the head")
        self.head: Optional[torch.nn.Linear] = None
        if self.num_clusters_ is not None:
            self._build_head(self.num_clusters_)
        #: The fitted input of a graph without features (``None``: the model reads ``data.x``).
        self.featureless_input_: Optional[FeaturelessInput] = None
        self.gamma_: Optional[float] = None
        self.loss_history_ = None
        self.objective_: Optional[float] = None
        self.init_objectives_: Optional[List[float]] = None
        self.init_core_fractions_: Optional[List[float]] = None
        self.labels_: Optional[Tensor] = None
        self.init_: Optional[str] = None
        self.init_clustering_ = None
        self.start_ncut_: Optional[float] = None
        self.ncut_: Optional[float] = None
        self.kept_: Optional[str] = None
        self.reset_parameters()

    def _build_encoder(self, in_channels: int):
        args = self._encoder_args
        return build_encoder(args["encoder"], in_channels, self.hidden_channels, self.num_layers,
                             dropout=self.dropout, act=args["act"], encoder_out_channels=args["encoder_out_channels"],
                             propagation_steps=args["propagation_steps"], **self.encoder_kwargs)

    def _build_head(self, num_clusters: int) -> None:
        """The linear head to ``num_clusters`` logits (none for an encoder that returns logits)."""
        self.num_clusters_ = num_clusters
        out = self.encoder.out_channels
        self.head = torch.nn.Linear(out, num_clusters) if out is not None else None

    def _size_input(self, width: int, device: torch.device) -> None:
        """A lazy model's encoder (re)built for input rows of ``width`` (a custom module is kept)."""
        self.in_channels = width
        if self.builtin_encoder:
            self.encoder = self._build_encoder(width).to(device)

    @property
    def encoder_name(self) -> str:
        """``"gcn"``, ``"sage"``, ``"mlp"``, or the class name of a custom encoder module."""
        return self.encoder.name

    @property
    def builtin_encoder(self) -> bool:
        """Whether the encoder is one of the built-in ones (rebuildable from a checkpoint)."""
        return self.encoder_name in ("gcn", "sage", "mlp")

    @property
    def propagation_steps(self) -> Union[int, str]:
        """``encoder="mlp"``'s ``propagation_steps`` argument (``0`` for other encoders)."""
        return getattr(self.encoder, "propagation_steps", 0)

    @property
    def propagation_steps_(self) -> int:
        """``encoder="mlp"``: the depth :math:`K` its input is propagated to (the fitted one)."""
        if self.encoder_name != "mlp":
            raise AttributeError("propagation_steps_ is an attribute of encoder='mlp' models")
        return self.encoder.input_scaling.depth

    def reset_parameters(self) -> None:
        r"""Resets the learnable parameters (the encoder's fitted input scaling and the
        featureless input, statistics of the training graph, stay)."""
        self.encoder.reset_parameters()
        if self.head is not None:
            self.head.reset_parameters()

    # ------------------------------------------------------------------------------------------
    # Forward
    # ------------------------------------------------------------------------------------------
    def forward(self, x: Tensor, edge_index: Adj, edge_weight: Optional[Tensor] = None) -> Tensor:
        r"""Soft memberships :math:`\mathbf{S}` ``[N, k]`` (rows sum to one) of the graph
        ``(x, edge_index[, edge_weight])``, ``edge_index`` in any ``Adj`` form."""
        return self.logits(x, edge_index, edge_weight).softmax(dim=-1)

    def logits(self, x: Tensor, edge_index: Adj, edge_weight: Optional[Tensor] = None) -> Tensor:
        r"""The unnormalized scores ``[N, k]`` whose row-wise softmax is :math:`\mathbf{S}`."""
        check_features(x, self.in_channels)
        graph = Graph(x, edge_index, edge_weight)
        return self._logits(self.encoder.full_input(self.encoder.node_features(graph), graph))

    def _logits(self, inputs: EncoderInput, seeds: Optional[int] = None) -> Tensor:
        # seeds: only the first rows (a sampled batch's seeds) are wanted; the activation, dropout
        # and head act row by row, so they run on those rows alone.
        if self.num_clusters_ is None or self.in_channels == -1:
            raise ValueError("this NeuNcut is sized at fit (in_channels=-1 or num_clusters='auto'): call fit first")
        h = self.encoder(inputs)
        if seeds is not None and h.dim() == 2 and h.size(0) == inputs.x.size(0):
            h = h[:seeds]
        if self.head is not None:
            h = self.act(h) if self.act is not None else h
            h = F.dropout(h, p=self.dropout, training=self.training)
            h = self.head(h)
        rows = inputs.x.size(0) if seeds is None else seeds
        if h.dim() != 2 or h.size(0) != rows or h.size(1) != self.num_clusters_:
            raise ValueError(f"the encoder must return logits of shape [{inputs.x.size(0)}, {self.num_clusters_}] "
                             f"(or set encoder_out_channels to add a linear head), got {list(h.shape)}")
        return h

    # ------------------------------------------------------------------------------------------
    # Estimator
    # ------------------------------------------------------------------------------------------
    def fit(self, data: Data, epochs: Optional[int] = None, lr: Optional[float] = None, weight_decay: float = 0.0,
            progress: bool = True, *, n_init: Optional[int] = None, seed: Optional[int] = None,
            warm_start: bool = False, batch_size: Optional[int] = None, num_neighbors: Optional[List[int]] = None,
            distributed: bool = False, init: str = "auto") -> "NeuNcut":
        r"""Trains the model on one graph by gradient descent on the relaxed Ncut, ``n_init``
        times, and keeps the run whose memberships have the lowest full-graph loss (evaluation
        mode), as :class:`sklearn.cluster.KMeans` keeps its lowest-inertia run.

        **Full batch** (``batch_size=None``): every step sees the whole graph.
        **Mini-batch** (``batch_size=B``): one Adam step per batch of ``B`` seed nodes; the
        encoder runs on the seeds, whose whole neighbourhoods the loss reads from a cache of
        memberships (:class:`~neuncut_pyg.sampling.MembershipCache`; ``docs/scale.md``); a GNN
        encoder then reads the start's smoothed features, not ``x`` (``MessagePassingEncoder``).
        **Data-parallel** (``distributed=True``, with a ``batch_size``): mini-batches split over
        the ranks of the default process group. ``epochs``, ``lr`` and ``n_init`` default per
        mode (:data:`FULL_BATCH_DEFAULTS`, :data:`MINI_BATCH_DEFAULTS`).

        **The start** (``init``): ``"spectral"`` first fits the network by cross-entropy to a
        label-free partition, the spectral clustering of graph-smoothed features
        (:func:`~neuncut_pyg.start.spectral_start`); run :math:`r` is fitted only to the core of
        each start cluster, the share :math:`2^{-r}` of its nodes deepest inside it
        (:func:`~neuncut_pyg.start.core_fractions`; all of it for ``encoder="mlp"``), and the
        relaxed Ncut places the rest. On a graph without features, ``"spectral"`` is the spectral
        clustering of the graph itself (:func:`~neuncut_pyg.start.graph.graph_spectral_start`),
        which ``"graph"`` also forces on an attributed graph. ``"random"``: freshly initialized
        parameters. ``"auto"``: ``"spectral"``, or ``"random"`` for a ``warm_start``.

        **Never worse than the start.** When the kept run's partition has a higher discrete
        :math:`k`-way Ncut than the start's, the start is kept (``kept_="start"``) and the network
        is fitted to all of it, so that :meth:`predict` follows it on new nodes.

        Args:
            data (torch_geometric.data.Data): The graph: ``x`` ``[N, F]`` and ``edge_index``
                ``[2, E]`` (optional ``edge_weight``) or ``adj_t``. Labels are never read.
            epochs (int, optional): Full-batch steps, or passes over the nodes.
            lr (float, optional): Adam learning rate.
            weight_decay (float): Adam weight decay. (default: ``0.0``)
            progress (bool): Show a tqdm progress bar. (default: ``True``)
            n_init (int, optional): Training runs; the lowest final loss is kept.
            seed (int, optional): Seeds every random choice (the global RNG is left as it was).
            warm_start (bool): Continue from the current parameters (needs ``n_init=1``).
            batch_size (int, optional): Seed nodes per mini-batch; ``None``: full batch.
            num_neighbors (List[int], optional): Neighbours sampled per node for each of a GNN
                encoder's layers, ``-1`` for all. (default: ``10`` per layer)
            distributed (bool): Train data-parallel over the default process group, called on
                every rank with the same arguments and graph. (default: ``False``)
            init (str): ``"auto"``, ``"spectral"``, ``"graph"`` or ``"random"``.
                (default: ``"auto"``)

        Returns:
            NeuNcut: ``self``, in evaluation mode, with ``gamma_``, ``num_clusters_``,
            ``loss_history_`` (the kept run's per-epoch ``loss``, ``cut``, ``orth``),
            ``objective_`` (its final loss), ``init_objectives_`` (every run's),
            ``init_core_fractions_``, ``labels_`` (equal to ``predict(data)`` unless
            ``kept_="start"``), ``ncut_`` (its discrete :math:`k`-way Ncut), ``start_ncut_`` (the
            start's; ``None`` without one), ``kept_`` (``"trained"`` or ``"start"``), ``init_``
            and ``init_clustering_`` (the start), and ``featureless_input_`` for a ``Data``
            without ``x``, set.

        Raises:
            ValueError: on a malformed graph or features (a ``Data`` without ``x`` for a model
                built with ``in_channels``; without ``x`` and ``num_nodes``), ``num_clusters`` (or
                ``k_min``) above the number of nodes, or a setting out of range.
        """
        graph = read_graph(data, -1 if self.lazy and not warm_start else self.in_channels, "fit",
                           featureless=warm_start and self.featureless_input_ is not None)
        seed = check_optional_int(seed, "seed", minimum=0)
        batch_size = check_optional_int(batch_size, "batch_size")
        epochs, lr, n_init = run_settings(FULL_BATCH_DEFAULTS if batch_size is None else MINI_BATCH_DEFAULTS,
                                           epochs, lr, n_init, warm_start)
        if warm_start and self.num_clusters_ is None:
            raise ValueError("warm_start=True continues a fitted model: fit it once first")
        num_neighbors = self._num_neighbors(num_neighbors, batch_size)
        if distributed:
            DataParallel.check(batch_size)
        init = resolve_init(init, warm_start=warm_start)
        device = graph.device
        with seeded(seed, device):
            start_seed = 0
            if init != "random" or (self.num_clusters == "auto" and not warm_start):
                start_seed = int(torch.randint(0, 2**31 - 1, ()))  # the same on every rank
                if distributed:
                    start_seed = dist.broadcast_object(start_seed)
            if not warm_start:
                self._choose_num_clusters(graph, start_seed)
            self._check_num_nodes(graph.num_nodes)
            featureless = graph.x is None
            if featureless:
                graph.x = self._featureless_features(graph, fit=not warm_start)
            elif not warm_start:
                self.featureless_input_ = None
            if self.lazy and not warm_start:
                self._size_input(graph.x.size(1), device)
            self.gamma_ = auto_gamma(self.num_clusters_, graph.adjacency, num_nodes=graph.num_nodes) \
                if self.gamma == "auto" else self.gamma
            settings = TrainSettings(epochs, lr, weight_decay, self.gamma_, progress)
            start, start_features = self._start(graph, init, start_seed, from_graph=featureless)
            features = self.encoder.node_features(graph, fit=not warm_start, sampled=batch_size is not None,
                                                  start_features=start_features,
                                                  start_steps=getattr(start, "steps", None))
            del start_features
            strategy = self._strategy(graph, features, settings, batch_size, num_neighbors, distributed, seed)
            self._fit_runs(strategy, start, init, n_init=n_init, warm_start=warm_start, device=device,
                           adjacency=graph.adjacency)
        return self

    def _check_num_nodes(self, num_nodes: int) -> None:
        if self.num_clusters_ > num_nodes:
            raise ValueError(f"num_clusters={self.num_clusters_} clusters cannot be formed from a graph of "
                             f"{num_nodes} nodes: need num_clusters <= num_nodes")

    def _fit_runs(self, strategy: FittingStrategy, start: Any, init: str, *, n_init: int, warm_start: bool,
                  device: torch.device, adjacency: Optional[SparseTensor] = None) -> None:
        """The ``n_init`` runs of a fit from ``start`` (the one ``init`` asked for; ``None``: at
        random), the choice between the kept run and the start when the whole ``adjacency`` is
        at hand, then the fitted attributes."""
        target = None if start is None else StartTarget(
            torch.from_numpy(start.labels).to(device), start.margins,
            core_fractions(n_init, shrink=CORE_SHRINK if self.encoder.fits_start_cores else 1.0))
        runs = fit_runs(self, strategy, n_init=n_init, gamma=self.gamma_, warm_start=warm_start, start=target)
        if adjacency is not None:
            kept = never_worse_than_start(self, strategy, adjacency, runs.labels, target, self.num_clusters_)
        else:  # a partitioned graph: no rank holds the whole graph to score the partitions on
            kept = KeptPartition(runs.labels, "trained", None, None)
        self.init_, self.init_clustering_ = "random" if start is None else init, start
        self.loss_history_, self.labels_ = runs.history, kept.labels
        self.ncut_, self.start_ncut_, self.kept_ = kept.ncut, kept.start_ncut, kept.kept
        self.objective_, self.init_objectives_ = min(runs.objectives), runs.objectives
        self.init_core_fractions_ = None if target is None else list(target.fractions)

    def _choose_num_clusters(self, graph: Graph, seed: int) -> None:
        """``num_clusters="auto"``: sets ``num_clusters_`` (and a new head) from the graph."""
        if self.num_clusters != "auto":
            return
        k_min, k_max = check_k_bounds(self.k_min, self.k_max, graph.num_nodes)
        choice = choose_num_clusters(graph.adjacency, graph.num_nodes, k_min=k_min, k_max=k_max, seed=seed)
        self._build_head(choice.k)
        if self.head is not None:
            self.head.to(graph.device)

    def _featureless_features(self, graph: Graph, *, fit: bool) -> Tensor:
        """The model's own input for a graph without features (fitted to it when ``fit``)."""
        if fit:
            k = self.num_clusters_
            self.featureless_input_ = FeaturelessInput(FEATURELESS_DIM_PER_CLUSTER * k,
                                                       FEATURELESS_COMPONENTS_PER_CLUSTER * k,
                                                       shrinkage=FEATURELESS_SHRINKAGE)
            return self.featureless_input_.fit_transform(graph.node_keys, graph.adjacency, graph.num_nodes)
        return self.featureless_input_(graph.node_keys, graph.adjacency, graph.num_nodes)

    def _start(self, graph: Graph, init: str, seed: int, *, from_graph: bool):
        """``(start, its smoothed features or None)``: the spectral clustering of the smoothed
        features, or of the graph itself (``init="graph"``, or a graph without features), the
        same on every rank of a process group; ``(None, None)`` for a random start."""
        if init == "random":
            return None, None
        if init == "graph" or from_graph:
            return graph_spectral_start(graph.adjacency, graph.num_nodes, self.num_clusters_, seed=seed), None
        return spectral_start(graph.x, graph.adjacency, self.num_clusters_, seed=seed, return_features=True)

    def _strategy(self, graph: Graph, features: Tensor, settings: TrainSettings, batch_size: Optional[int],
                  num_neighbors: Optional[List[int]], distributed: bool, seed: Optional[int]) -> FittingStrategy:
        """The fitting strategy of a fit: full batch, mini-batch or data-parallel."""
        rowwise = self.encoder.rowwise
        if batch_size is None:
            inputs = self.encoder.full_input(features, graph)

            def memberships(rows: Optional[Tensor]) -> Tensor:
                return self._logits(inputs if rows is None else EncoderInput(inputs.x[rows])).softmax(dim=-1)

            return FullBatch(self, memberships, graph.adjacency, settings, rowwise=rowwise)
        n = graph.num_nodes
        per_step = DataParallel.seeds_per_rank(batch_size, n) if distributed else min(batch_size, n)
        shared = dist.shared_seed(seed) if distributed else None
        if rowwise:
            on_seeds = OnRows(self, features)
            batches = SeedBatches(n, per_step, world_size=dist.get_world_size(), rank=dist.get_rank(), seed=shared)
            source = features
        else:
            on_seeds = OnSeeds(self)
            source = self.encoder.sampling_data(features, graph)
            batches = dist.ShardedNeighborLoader(source, num_neighbors=num_neighbors, batch_size=per_step,
                                                 seed=shared) if distributed else \
                NeighborLoader(source, num_neighbors=num_neighbors, batch_size=per_step, shuffle=True)
        cache = MembershipCache(graph.adjacency, symmetric_degrees(graph.adjacency))
        # Inference reads whole neighbourhoods over the hops the encoder reads.
        hops = None if self.encoder.hops is not None else [-1] * len(num_neighbors)
        strategy = DataParallel if distributed else MiniBatch
        return strategy(on_seeds, batches, cache, lambda: self._proba_in_batches(source, batch_size, hops), settings,
                        num_nodes=n, rowwise=rowwise)

    def fit_predict(self, data: Data, *args: Any, **kwargs: Any) -> Tensor:
        r"""Fits the model on ``data`` (arguments as :meth:`fit`) and returns ``labels_``, what
        :meth:`predict` gives on the training graph, without a second pass over it."""
        return self.fit(data, *args, **kwargs).labels_

    @torch.no_grad()
    def predict_proba(self, data: Data, batch_size: Optional[int] = None,
                      num_neighbors: Optional[List[int]] = None) -> Tensor:
        r"""Soft memberships :math:`\mathbf{S}` ``[N, k]`` of the nodes of ``data`` (evaluation
        mode, no gradients); ``data`` may be the training graph or a new one.

        Args:
            data (torch_geometric.data.Data): The graph, as for :meth:`fit`.
            batch_size (int, optional): Assign the nodes in batches of this many, so that memory
                follows the batch, not the graph. A GNN encoder then sees each node's whole
                neighbourhood with full-graph normalization: the result equals the full-batch
                one. (default: ``None``: all nodes at once)
            num_neighbors (List[int], optional): For a custom encoder in batches, the hops it
                reads (e.g. ``[-1, -1]`` for two message-passing layers).
        """
        graph = read_graph(data, self.in_channels, "predict", featureless=self.featureless_input_ is not None)
        batch_size = check_optional_int(batch_size, "batch_size")
        if self.featureless_input_ is not None:
            graph.x = self._featureless_features(graph, fit=False)
        with evaluation(self):
            features = self.encoder.node_features(graph)
            if batch_size is None:
                return self._logits(self.encoder.full_input(features, graph)).softmax(dim=-1)
            if self.encoder.rowwise:
                return self._proba_in_batches(features, batch_size, None)
            return self._proba_in_batches(self.encoder.sampling_data(features, graph), batch_size, num_neighbors)

    def predict(self, data: Data, batch_size: Optional[int] = None) -> Tensor:
        r"""Hard cluster labels ``[N]`` (``LongTensor`` in ``0..k-1``), the argmax of
        :meth:`predict_proba`; some ids may be unused if clusters came out empty."""
        return self.predict_proba(data, batch_size=batch_size).argmax(dim=-1)

    # ------------------------------------------------------------------------------------------
    # Mini-batches
    # ------------------------------------------------------------------------------------------
    def _num_neighbors(self, num_neighbors: Optional[List[int]], batch_size: Optional[int]) -> Optional[List[int]]:
        """The checked fan-out of a mini-batch fit: one entry per message-passing layer of the
        encoder (the loss reads whole neighbourhoods from the membership cache)."""
        hops = self.encoder.hops
        if num_neighbors is None:
            if batch_size is None or hops == 0:
                return None
            if hops is None:
                raise ValueError("fit in mini-batches with a custom encoder needs num_neighbors: the neighbours "
                                 "its layers read, one entry per hop (e.g. [10, 10] for two layers)")
            return [_DEFAULT_FANOUT] * hops
        if batch_size is None:
            raise ValueError("num_neighbors sets the sampling of mini-batches: give a batch_size too")
        if hops == 0:
            raise ValueError(f"encoder={self.encoder_name!r} reads no neighbourhood: its mini-batches sample "
                             "nothing, leave num_neighbors out")
        num_neighbors = check_num_neighbors(num_neighbors)
        if hops is not None and len(num_neighbors) != hops:
            raise ValueError(f"num_neighbors={num_neighbors} has {len(num_neighbors)} hop(s) but the "
                             f"{self.encoder_name.upper()} encoder has {hops} message-passing layer(s): give one "
                             f"entry per layer (the loss reads every neighbour from a cache of memberships)")
        return num_neighbors

    def _proba_in_batches(self, sampled: Union[Data, Tensor], batch_size: int,
                          num_neighbors: Optional[List[int]]) -> Tensor:
        """Memberships of every node, ``batch_size`` at a time (no gradients; the caller sets the
        mode): row chunks of the features for a row-wise encoder, else ``NeighborLoader``
        batches with whole neighbourhoods over the encoder's hops."""
        features = sampled if isinstance(sampled, Tensor) else sampled.x
        out = torch.empty(features.size(0), self.num_clusters_, dtype=features.dtype)
        with torch.no_grad():
            if self.encoder.rowwise:
                for rows in torch.arange(features.size(0)).split(batch_size):
                    out[rows] = self._logits(EncoderInput(features[rows])).softmax(dim=-1)
                return out
            if num_neighbors is None:
                if self.encoder.hops is None:
                    raise ValueError("predicting in batches with a custom encoder needs num_neighbors "
                                     "(e.g. [-1, -1] for two message-passing layers)")
                num_neighbors = [-1] * self.encoder.hops
            for batch in NeighborLoader(sampled, num_neighbors=num_neighbors, batch_size=batch_size, shuffle=False):
                seeds = batch.n_id[: batch.batch_size]
                out[seeds] = self._logits(self.encoder.batch_input(batch), batch.batch_size).softmax(dim=-1)
        return out

    def __repr__(self) -> str:
        encoder = self.encoder_name.upper() if self.builtin_encoder else self.encoder_name
        shape = f", hidden_channels={self.hidden_channels}, num_layers={self.num_layers}" if self.builtin_encoder else ""
        if self.encoder_name == "mlp":
            shape += f", propagation_steps={self.propagation_steps!r}"
        return (f"{self.__class__.__name__}({self.in_channels}, num_clusters={self.num_clusters}, "
                f"encoder={encoder}{shape}, gamma={self.gamma})")
