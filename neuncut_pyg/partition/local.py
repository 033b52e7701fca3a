r"""One rank's partition (:class:`LocalPartition`), loaded by :func:`open_partition` into PyG's
local stores (:class:`~torch_geometric.distributed.LocalGraphStore`,
:class:`~torch_geometric.distributed.LocalFeatureStore`), with the
:class:`~torch_geometric.distributed.DistNeighborLoader` batches that training draws from it
and the gather that gives every rank every node's rows.

**What a rank holds.** PyG's Partitioner stores a partition's edges by destination (CSC): part
:math:`p` keeps *every* edge :math:`u \to v` whose destination :math:`v` is one of its nodes
(checked when a partition is opened). On an undirected graph a node's in-edges are its row of
:math:`\mathbf{W}`, so a rank holds the full rows of its own nodes, which is what the loss reads
for a seed (:class:`~neuncut_pyg.sampling.MembershipCache` with ``rows``), while the encoder's
deeper hops reach other partitions through PyG's RPC sampler.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.distributed import DistContext, LocalFeatureStore, LocalGraphStore
from torch_geometric.distributed.rpc import rpc_is_initialized, shutdown_rpc
from torch_sparse import SparseTensor

from neuncut_pyg import distributed as dist
from neuncut_pyg._validation import check_int, check_real
from neuncut_pyg.partition.directory import COLUMNS, METADATA_FILE, ids_digest, read_metadata
from neuncut_pyg.partition.engine import build_dist_neighbor_loader, require_pyg_lib, start_rpc
from neuncut_pyg.start import SmoothedFeatureClustering

__all__ = ["SeedChunks", "LocalPartition", "open_partition", "close_partitions"]


class SeedChunks(torch.utils.data.Sampler):
    r"""The ``batch_sampler`` of a rank's ``DistNeighborLoader``: positions in the rank's node
    list, in ``steps`` chunks per pass (sizes differing by at most one), a new order every pass
    when shuffled. Reconfigured in place (:meth:`configure`), so that one loader serves every
    run of a fit: a loader registers RPC handlers on every rank and lives as long as RPC does.
    """

    def __init__(self, num_local: int, *, rank: int) -> None:
        self.num_local, self.rank = int(num_local), int(rank)
        self.pool: Optional[Tensor] = None
        self.steps, self.shuffle, self.seed, self.epoch = 1, False, 0, 0

    def configure(self, *, steps: int, shuffle: bool, pool: Optional[Tensor] = None, seed: int = 0) -> None:
        """``steps`` chunks of ``pool`` (positions; ``None``: all of the rank's nodes) per pass."""
        size = self.num_local if pool is None else pool.numel()
        if not 1 <= steps <= size:
            raise ValueError(f"steps must be in 1..{size} (the seeds to split), got {steps}")
        self.steps, self.shuffle, self.pool, self.seed = int(steps), bool(shuffle), pool, int(seed)

    def __iter__(self) -> Iterator[List[int]]:
        pool = torch.arange(self.num_local) if self.pool is None else self.pool
        if self.shuffle:
            generator = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch * 1_009 + self.rank) % 2**63)
            pool = pool[torch.randperm(pool.numel(), generator=generator)]
            self.epoch += 1
        for chunk in pool.tensor_split(self.steps):
            yield chunk.tolist()

    def __len__(self) -> int:
        return self.steps


class LocalPartition:
    r"""One rank's partition, loaded into PyG's local stores (built with
    :meth:`~torch_geometric.distributed.LocalGraphStore.from_data` and
    :meth:`~torch_geometric.distributed.LocalFeatureStore.from_data` from the partition's
    files, so that PyG's ``node_map`` is read once and ``edge_map``, unused without edge
    features, not at all), with what training reads from it.

    Attributes:
        meta (dict): :func:`read_metadata`.
        num_nodes (int): :math:`N` of the whole graph; ``sizes``: every part's node count.
        node_ids (Tensor): The global ids of this partition's nodes, ascending ``[n]``.
        rows (Tensor): Each global id's position in ``node_ids`` ``[N]`` (``-1`` elsewhere).
        adjacency (SparseTensor): The rows of :math:`\mathbf{W}` of this partition's nodes
            ``[n, N]`` (columns: global ids), sharing the graph store's index tensor.
        deg (Tensor): Their full-graph degrees ``[n]``.
        order (Tensor): The global ids of every part's nodes, part after part, each ascending
            ``[N]``: where the rows of :meth:`gather` go.
    """

    def __init__(self, root: Path, rank: int, world_size: int, meta: Dict[str, Any]) -> None:
        self.root, self.rank, self.world_size, self.meta = root, rank, world_size, meta
        self.num_nodes = int(meta["num_nodes"])
        self.num_features = int(meta["num_features"])
        self.sizes = [int(p["num_nodes"]) for p in meta["parts"]]
        with open(root / "META.json") as file:
            pyg_meta = json.load(file)
        if pyg_meta.get("num_parts") != len(self.sizes) or pyg_meta.get("is_hetero"):
            raise ValueError(f"{str(root)!r}: PyG's META.json (num_parts={pyg_meta.get('num_parts')}) does not match "
                             f"{METADATA_FILE} ({len(self.sizes)} parts): the directory mixes two partitionings; "
                             "re-partition with partition_graph(..., overwrite=True)")
        node_map = torch.load(root / "node_map.pt", weights_only=True)
        part_dir = root / f"part_{rank}"
        graph = torch.load(part_dir / "graph.pt", weights_only=True)
        features = torch.load(part_dir / "node_feats.pt", weights_only=True)
        global_ids, x = features["global_id"], features["feats"]["x"]
        expected = meta["parts"][rank]
        if (node_map.numel() != self.num_nodes or global_ids.numel() != expected["num_nodes"]
                or graph["col"].numel() != expected["num_edges"] or ids_digest(global_ids) != expected["ids"]
                or x.shape != (expected["num_nodes"], self.num_features + len(COLUMNS))):
            raise ValueError(f"{str(part_dir)!r} does not hold the partition {METADATA_FILE} describes (its nodes, "
                             "edges or columns differ): the files come from another graph or partitioning; "
                             "re-partition with partition_graph(..., overwrite=True) or copy the whole directory again")
        src, dst = graph["row"], graph["col"]
        del graph
        if not bool((node_map[dst] == rank).all()):
            raise ValueError(f"{str(part_dir)!r} holds edges into nodes of other partitions: PyG's Partitioner stores "
                             "a partition's edges by destination, which the loss relies on")

        self.graph_store = LocalGraphStore.from_data(torch.empty(0, dtype=torch.long), torch.stack([src, dst]),
                                                              self.num_nodes, is_sorted=True)
        self.graph_store.num_partitions, self.graph_store.partition_idx = len(self.sizes), rank
        self.graph_store.node_pb, self.graph_store.edge_pb = node_map, None
        self.graph_store.meta = pyg_meta
        self.feature_store = LocalFeatureStore.from_data(global_ids, x)
        self.feature_store.num_partitions, self.feature_store.partition_idx = len(self.sizes), rank
        self.feature_store.node_feat_pb, self.feature_store.edge_feat_pb = node_map, None
        self.feature_store.meta = pyg_meta

        self.node_ids, by_id = global_ids.sort()
        self.rows = torch.full((self.num_nodes,), -1, dtype=torch.long)
        self.rows[self.node_ids] = torch.arange(self.node_ids.numel())
        self.deg = x[by_id, self.num_features + COLUMNS.index("deg")].clone()
        # Edges sorted by destination, local positions ascending with the global ids: W's rows
        # of this partition in CSR, with the store's source ids as column indices (no copy).
        rowptr = torch.zeros(self.node_ids.numel() + 1, dtype=torch.long)
        rowptr[1:] = torch.bincount(dst, minlength=self.num_nodes)[self.node_ids].cumsum(0)
        sources = self.graph_store.get_edge_index(edge_type=None, layout="coo")[0]
        self.adjacency = SparseTensor(rowptr=rowptr, col=sources,
                                      sparse_sizes=(self.node_ids.numel(), self.num_nodes), is_sorted=True,
                                      trust_data=True)
        self.order = node_map.argsort(stable=True)
        self.train_seeds = SeedChunks(self.node_ids.numel(), rank=rank)
        self.inference_seeds = SeedChunks(self.node_ids.numel(), rank=rank)
        self._loaders: Dict[Tuple[str, Tuple[int, ...]], Any] = {}
        self._rpc: Optional[Tuple[str, int, float]] = None

    @property
    def num_local(self) -> int:
        """:math:`n_r`, this partition's node count."""
        return int(self.node_ids.numel())

    @property
    def gcn_normalization(self) -> Dict[str, bool]:
        return dict(self.meta["settings"]["gcn_normalization"])

    def start(self, num_clusters: int, *, required: bool = False) -> Optional[SmoothedFeatureClustering]:
        """The spectral start for ``num_clusters`` computed at partition time (every node's), or
        ``None`` when there is none for that ``k``, which ``required`` refuses."""
        stored = self.meta.get("start")
        if stored is None or stored["num_clusters"] != num_clusters:
            if required:
                raise ValueError(f"init='spectral' needs the start computed at partition time for {num_clusters} "
                                 "clusters (the whole graph's eigenvectors, which no rank has): "
                                 f"partition_graph(..., num_clusters={num_clusters}), or init='random'")
            return None
        found = torch.load(self.root / stored["file"], weights_only=True)
        return SmoothedFeatureClustering(found["labels"].numpy(), found["steps"], found["modularity"],
                                         found["margins"].numpy())

    def input_state(self) -> Dict[str, Tensor]:
        """The fitted state of the stored input (an :class:`~neuncut_pyg.models.input_scaling.
        InputScaling`'s ``state_dict``): what a model trained on these partitions reads."""
        return torch.load(self.root / self.meta["input"]["file"], weights_only=True)

    def check_model(self, in_channels: int, gcn_normalization: Optional[Dict[str, bool]]) -> None:
        """Refuses a model whose features or GCN normalization (``None``: not a GCN) differ
        from the ones this partitioning stored."""
        if self.num_features != in_channels:
            raise ValueError(f"the partitions at {str(self.root)!r} have {self.num_features} features per node but "
                             f"the model was built with in_channels={in_channels}")
        if gcn_normalization is not None and gcn_normalization != self.gcn_normalization:
            raise ValueError(f"the GCN terms stored at {str(self.root)!r} follow the normalization "
                             f"{self.gcn_normalization}, the model's encoder {gcn_normalization}: re-partition with "
                             f"partition_graph(..., gcn_normalization={gcn_normalization}, overwrite=True)")

    def split(self, batch: Data) -> Data:
        """A ``DistNeighborLoader`` batch as :meth:`~neuncut_pyg.models.encoders.Encoder.batch_input`
        reads it: ``x`` back to the features, the :data:`COLUMNS` as node attributes."""
        x = batch.x
        extra = x[:, self.num_features:]
        batch.x = x[:, : self.num_features]
        for i, name in enumerate(COLUMNS):
            column = extra[:, i]
            setattr(batch, name, column.round().long() if name in ("count", "gcn_count") else column)
        return batch

    def connect(self, address: str, port: int, timeout: float) -> None:
        """Starts RPC between the ranks (once per process; :func:`~neuncut_pyg.partition.engine.start_rpc`)."""
        if self._rpc is not None:
            return
        if not rpc_is_initialized():
            # DistLoader names its RPC worker 'mp_sampling_worker-<rank>' for num_workers=0.
            start_rpc(DistContext(rank=self.rank, global_rank=self.rank, world_size=self.world_size,
                                  global_world_size=self.world_size, group_name="mp_sampling_worker"),
                      address, port, timeout)
        self._rpc = (address, port, timeout)

    def loader(self, kind: str, num_neighbors: Sequence[int]):
        """The ``DistNeighborLoader`` over this partition's nodes for ``kind`` ``"train"``
        (:attr:`train_seeds`) or ``"inference"`` (:attr:`inference_seeds`), made once per fan-out;
        collective: every rank asks for the same loaders in the same order."""
        key = (kind, tuple(int(m) for m in num_neighbors))
        if key not in self._loaders:
            if self._rpc is None:
                raise RuntimeError("LocalPartition.loader: call connect() first")
            address, port, timeout = self._rpc
            self._loaders[key] = build_dist_neighbor_loader(
                (self.feature_store, self.graph_store), num_neighbors=list(key[1]), master_addr=address,
                master_port=port, current_ctx=DistContext(
                    rank=self.rank, global_rank=self.rank, world_size=self.world_size,
                    global_world_size=self.world_size, group_name="neuncut"),
                input_nodes=self.node_ids, batch_sampler=self.train_seeds if kind == "train" else self.inference_seeds,
                async_sampling=False, transform=self.split)
        return self._loaders[key]

    def gather(self, local: Tensor) -> Tensor:
        """Every node's rows ``[N, ...]`` on every rank, from each rank's rows of its nodes in
        ascending id order ``[n_r, ...]`` (collective)."""
        if local.size(0) != self.num_local:
            raise ValueError(f"gather takes the rows of this partition's {self.num_local} nodes, got {local.size(0)}")
        rows = dist.all_gather_rows(local, sizes=self.sizes)
        out = torch.empty_like(rows)
        out[self.order] = rows
        return out


# One loaded partition per (root, rank, world size) and process: the loaders made on it keep
# RPC handlers registered (PyG keeps them until RPC shuts down), so a fit and a predict share it.
_OPEN: Dict[Tuple[str, int, int], LocalPartition] = {}


def open_partition(root: Union[str, os.PathLike], *, fingerprint: Optional[str] = None,
                   rpc_address: Optional[str] = None, rpc_port: Optional[int] = None,
                   rpc_timeout: float = 60.0) -> LocalPartition:
    """This rank's partition of ``root``, checked, with RPC started: collective over the
    default process group (rank ``r`` loads ``part_r``).

    Raises:
        ImportError: without pyg-lib. RuntimeError: outside a process group, or if RPC is not
        reachable in ``rpc_timeout`` seconds. FileNotFoundError / ValueError: if ``root`` is
        missing, not ours, of another graph (``fingerprint``, or the ranks' copies differ) or
        cut into another number of parts than the ranks.
    """
    require_pyg_lib()
    if not dist.is_distributed():
        raise RuntimeError("partitioned training runs one rank per partition of a process group: call "
                           "torch.distributed.init_process_group() first (torchrun sets its environment)")
    rpc_timeout = check_real(rpc_timeout, "rpc_timeout", minimum=0.0, strict=True)
    rank, world = dist.get_rank(), dist.get_world_size()
    root = Path(root).resolve()
    problem, meta = None, None
    try:
        meta = read_metadata(root)
    except (FileNotFoundError, ValueError) as err:
        problem = err
    mine = None if meta is None else (meta["fingerprint"], len(meta["parts"]))
    everyone = [None] * world
    torch.distributed.all_gather_object(everyone, (repr(problem) if problem else None, mine))
    if problem is not None:
        raise problem
    failed = [r for r, (p, _) in enumerate(everyone) if p is not None]
    if failed:
        raise FileNotFoundError(f"rank(s) {failed} could not read the partitions at {str(root)!r}: "
                                f"{everyone[failed[0]][0]}")
    num_parts = len(meta["parts"])
    if world != num_parts:
        raise ValueError(f"{str(root)!r} holds {num_parts} partitions but the process group has {world} ranks: start "
                         f"{num_parts} ranks (one per partition) or re-partition with num_parts={world}")
    if len({fp for _, (fp, _) in everyone}) != 1:
        raise ValueError(f"the ranks' partition directories come from different graphs (fingerprints by rank: "
                         f"{[fp for _, (fp, _) in everyone]}): copy the same partitioning to every machine")
    if fingerprint is not None and meta["fingerprint"] != fingerprint:
        raise ValueError(f"{str(root)!r} holds partitions of another graph (fingerprint {meta['fingerprint']}, "
                         f"expected {fingerprint})")
    key = (str(root), rank, world)
    local = _OPEN.get(key)
    if local is None or local.meta != meta:
        local = _OPEN[key] = LocalPartition(root, rank, world, meta)
    if rpc_address is None:
        rpc_address = os.environ.get("MASTER_ADDR")
    if rpc_port is None and os.environ.get("MASTER_PORT"):
        rpc_port = int(os.environ["MASTER_PORT"]) + 1  # PyG's convention: the port after the process group's
    if rpc_address is None or rpc_port is None:
        raise ValueError("partitioned training needs an RPC address and port: set MASTER_ADDR and MASTER_PORT "
                         "(torchrun does; RPC then uses MASTER_PORT + 1) or pass rpc_address and rpc_port")
    local.connect(rpc_address, check_int(rpc_port, "rpc_port"), rpc_timeout)
    return local


def close_partitions() -> None:
    """Forgets the loaded partitions and shuts RPC down (collective: every rank calls it);
    PyG would otherwise shut it down at exit."""
    _OPEN.clear()
    shutdown_rpc(graceful=True)
