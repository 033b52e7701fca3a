r"""NeuNcut on a graph cut into partitions, one rank per partition, on PyG's distributed engine
(:mod:`neuncut_pyg.partition`; ``docs/partitioned.md``): the estimator's methods for it."""
from __future__ import annotations

from typing import Any, List, Optional

import torch
from torch import Tensor

from neuncut_pyg import distributed as dist
from neuncut_pyg._validation import check_int, check_num_neighbors, check_optional_int
from neuncut_pyg.fitting import TrainSettings
from neuncut_pyg.fitting.partitioned import Partitioned, partition_memberships
from neuncut_pyg.gamma import gamma_for_share
from neuncut_pyg.models.encoders import RAW_INPUT
from neuncut_pyg.models.fit_support import MINI_BATCH_DEFAULTS, OnSeeds, evaluation, resolve_init, run_settings, seeded
from neuncut_pyg.partition import open_partition, require_pyg_lib

__all__ = ["PartitionedMixin"]


class PartitionedMixin:
    """:meth:`fit_partitioned`, :meth:`predict_proba_partitioned` and :meth:`predict_partitioned`
    of :class:`~neuncut_pyg.models.NeuNcut`."""

    def fit_partitioned(self, root: str, epochs: Optional[int] = None, lr: Optional[float] = None,
                        weight_decay: float = 0.0, progress: bool = True, *, batch_size: int,
                        n_init: Optional[int] = None, seed: Optional[int] = None, warm_start: bool = False,
                        num_neighbors: Optional[List[int]] = None, init: str = "auto",
                        fingerprint: Optional[str] = None, rpc_address: Optional[str] = None,
                        rpc_port: Optional[int] = None, rpc_timeout: float = 60.0) -> "PartitionedMixin":
        r"""Trains the model on a graph cut into partitions, one rank per partition, on PyG's
        distributed engine; called on every rank of the default process group with the same
        arguments (``torchrun``; ``docs/partitioned.md``).

        ``root`` is what :func:`~neuncut_pyg.partition.partition_graph` wrote, visible to every
        rank (a shared file system or a copy per machine); rank :math:`r` loads only
        ``part_r``. Each step every rank draws seeds from its own partition, in numbers
        proportional to its size; ``DistNeighborLoader`` samples their neighbourhoods, over RPC
        where they cross partitions; the ranks' statistics are combined into the stratified
        estimate of the full graph's before the ratio is taken, and DDP averages the gradients
        (:class:`~neuncut_pyg.fitting.partitioned.Partitioned`). The fitted model, ``labels_``
        and the fitted attributes are the same on every rank, as after :meth:`fit`.

        **The start** (``init``): the spectral start needs the whole graph, which no rank holds,
        so it is the one stored at partition time (``partition_graph(..., num_clusters=k)``).
        ``"auto"`` fits to it when there is one for this ``k`` and starts at random otherwise;
        ``"spectral"`` requires it. **The input** is the one the partitions store, by default
        what a GNN encoder reads in a mini-batch fit (smoothed, standardized; ``partition_graph``).

        Args:
            root (str): The partition directory.
            epochs, lr, weight_decay, progress, n_init, seed, warm_start, num_neighbors: As for
                :meth:`fit` in mini-batches (:data:`MINI_BATCH_DEFAULTS`).
            batch_size (int): Seed nodes per step over all ranks; also the nodes each rank
                assigns at a time when it refreshes every node's memberships.
            init (str): ``"auto"``, ``"spectral"`` or ``"random"``. (default: ``"auto"``)
            fingerprint (str, optional): Refuse partitions of any other graph than the one of
                this :func:`~neuncut_pyg.partition.graph_fingerprint`.
            rpc_address (str, optional): Rank 0's address for RPC. (default: ``MASTER_ADDR``)
            rpc_port (int, optional): Its RPC port. (default: ``MASTER_PORT + 1``, PyG's)
            rpc_timeout (float): Seconds to reach RPC and for each RPC call. (default: ``60``)

        Returns:
            NeuNcut: ``self``, fitted, in evaluation mode; ``labels_`` holds every node's label.

        Raises:
            ImportError: without pyg-lib. RuntimeError: outside a process group, or RPC not
                reachable. ValueError / FileNotFoundError: a missing or mismatched partition
                directory (another graph, another number of parts than ranks, other features or
                GCN normalization than the model's), ``encoder="mlp"``, bad settings.
        """
        require_pyg_lib()
        if self.lazy or self.num_clusters == "auto":
            raise ValueError("fit_partitioned needs in_channels and num_clusters given: the partitions store "
                             "features of a fixed size and the start for one k")
        self._check_partitioned_encoder(num_neighbors)
        batch_size = check_int(batch_size, "batch_size")
        seed = check_optional_int(seed, "seed", minimum=0)
        epochs, lr, n_init = run_settings(MINI_BATCH_DEFAULTS, epochs, lr, n_init, warm_start)
        num_neighbors = self._num_neighbors(num_neighbors, batch_size)
        init = resolve_init(init, warm_start=warm_start)
        local = open_partition(root, fingerprint=fingerprint, rpc_address=rpc_address, rpc_port=rpc_port,
                               rpc_timeout=rpc_timeout)
        local.check_model(self.in_channels, getattr(self.encoder, "normalization", None))
        self._read_partition_input(local, fit=not warm_start)
        self._check_num_nodes(local.num_nodes)
        start = None if init == "random" else local.start(self.num_clusters, required=init == "spectral")
        self.gamma_ = gamma_for_share(self.num_clusters, local.meta["off_diagonal_share"]) \
            if self.gamma == "auto" else self.gamma
        settings = TrainSettings(epochs, lr, weight_decay, self.gamma_, progress)
        with seeded(seed, torch.device("cpu")):
            strategy = Partitioned(OnSeeds(self), local, settings, batch_size=batch_size, num_neighbors=num_neighbors,
                                   hops=len(num_neighbors), seed=dist.shared_seed(seed))
            # The start stored at partition time is a spectral one.
            self._fit_runs(strategy, start, "spectral", n_init=n_init, warm_start=warm_start,
                           device=torch.device("cpu"))
        return self

    @torch.no_grad()
    def predict_proba_partitioned(self, root: str, batch_size: int = 4096, *,
                                  num_neighbors: Optional[List[int]] = None, fingerprint: Optional[str] = None,
                                  rpc_address: Optional[str] = None, rpc_port: Optional[int] = None,
                                  rpc_timeout: float = 60.0) -> Tensor:
        r"""Soft memberships ``[N, k]`` of every node of a partitioned graph, on every rank:
        each rank assigns its own partition's nodes, ``batch_size`` at a time with whole
        neighbourhoods (the full-graph outputs), and the ranks gather. Collective, as
        :meth:`fit_partitioned` (whose RPC arguments it takes); ``num_neighbors`` gives the hops
        of a custom encoder."""
        require_pyg_lib()
        self._check_partitioned_encoder(num_neighbors)
        batch_size = check_int(batch_size, "batch_size")
        hops = self.encoder.hops if self.encoder.hops is not None else len(check_num_neighbors(num_neighbors))
        local = open_partition(root, fingerprint=fingerprint, rpc_address=rpc_address, rpc_port=rpc_port,
                               rpc_timeout=rpc_timeout)
        local.check_model(self.in_channels, getattr(self.encoder, "normalization", None))
        self._read_partition_input(local, fit=False)
        with evaluation(self):
            return partition_memberships(OnSeeds(self), local, batch_size, hops)

    def predict_partitioned(self, root: str, batch_size: int = 4096, **kwargs: Any) -> Tensor:
        r"""Hard labels ``[N]`` of every node of a partitioned graph, on every rank: the argmax
        of :meth:`predict_proba_partitioned` (collective)."""
        return self.predict_proba_partitioned(root, batch_size, **kwargs).argmax(dim=-1)

    def _read_partition_input(self, local: Any, *, fit: bool) -> None:
        """A fit takes the input the partitions store (``x`` as given, or smoothed and
        standardized as a mini-batch fit reads it) as the encoder's fitted input; a later call
        (predict, warm start) refuses partitions whose input the model was not fitted on."""
        stored = local.input_state()
        scaling = getattr(self.encoder, "input_scaling", None)
        if scaling is None:  # a custom encoder reads x as given
            if int(stored["steps"]) != RAW_INPUT:
                raise ValueError(f"the partitions at {str(local.root)!r} store smoothed features, which a custom "
                                 "encoder does not expect: partition with partition_graph(..., smoothed_input=False)")
            return
        if fit:
            scaling.load_state_dict(stored)
        elif not (int(stored["steps"]) == scaling.depth and torch.allclose(stored["shift"], scaling.shift)
                  and torch.allclose(stored["scale"], scaling.scale)):
            raise ValueError(f"the partitions at {str(local.root)!r} store the input at depth {int(stored['steps'])} "
                             f"(-1: x as given), the model reads it at depth {scaling.depth} or with other "
                             "statistics: use a model fitted on these partitions (fit_partitioned)")

    def _check_partitioned_encoder(self, num_neighbors: Optional[List[int]]) -> None:
        if self.encoder_name == "mlp":
            raise ValueError("encoder='mlp' reads features propagated over the whole graph, which no rank of "
                             "partitioned training holds: use encoder='gcn' or 'sage', whose layers "
                             "DistNeighborLoader samples across partitions")
        if self.encoder.hops is None and num_neighbors is None:
            raise ValueError("partitioned training with a custom encoder needs num_neighbors: the neighbours its "
                             "layers read, one entry per hop (e.g. [10, 10] for two layers)")
