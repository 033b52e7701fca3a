r"""Graphs cut into partitions for training on PyG's distributed engine, one partition per rank.

:func:`partition_graph` cuts a graph once with PyG's
:class:`~torch_geometric.distributed.Partitioner` and writes, beside PyG's files, what NeuNcut's
training needs that PyG does not keep; :func:`open_partition` loads one rank's partition into
PyG's local stores (:class:`~torch_geometric.distributed.LocalGraphStore`,
:class:`~torch_geometric.distributed.LocalFeatureStore`) and hands out
:class:`~torch_geometric.distributed.DistNeighborLoader` batches of it. The training itself is
:class:`~neuncut_pyg.fitting.partitioned.Partitioned`, reached through
:meth:`NeuNcut.fit_partitioned <neuncut_pyg.models.NeuNcut.fit_partitioned>`.

**What a rank holds.** PyG's Partitioner stores a partition's edges by destination (CSC): part
:math:`p` keeps *every* edge :math:`u \to v` whose destination :math:`v` is one of its nodes
(checked when a partition is opened). On an undirected graph a node's in-edges are its row of
:math:`\mathbf{W}`, so a rank holds the full rows of its own nodes, which is what the loss reads
for a seed (:class:`~neuncut_pyg.sampling.MembershipCache` with ``rows``), while the encoder's
deeper hops reach other partitions through PyG's RPC sampler.

**Columns written at partition time.** The loss and the GCN encoder need per-node terms of the
*full* graph that a partition cannot compute: the degree :math:`d_i`, the neighbour count
(:func:`~neuncut_pyg.sampling.sampling_data`) and the GCN normalization terms
(:func:`~neuncut_pyg.adjacency.gcn_node_terms`). PyG's Partitioner writes only ``x`` as node
features, so they are appended to ``x`` as columns (:data:`COLUMNS`) and split off again in every
batch (:meth:`LocalPartition.split`). The graph's off-diagonal share :math:`\rho` (for
``gamma="auto"``, :func:`~neuncut_pyg.gamma.gamma_for_share`) and, optionally, the method's
spectral start (its labels and margins, so that ranks can fit the network to it) are computed
on the whole graph here too: no rank can later.

**Files.** ``root/`` holds PyG's ``META.json``, ``node_map.pt``, ``edge_map.pt`` and
``part_<p>/`` (whose features are rewritten compactly: PyG saves each part's ``x`` as a view
of every node's, and ``torch.save`` writes a view's whole storage), and ours: ``neuncut_partitions.json`` (:data:`METADATA_FILE`: format version,
sizes, the columns, a fingerprint of the graph and of every part) and ``start.pt``. The
metadata file is written last, so a directory whose partitioning was interrupted is refused.

**Limits of PyG's engine (torch_geometric 2.8),** which PyG marks deprecated since 2.7:
``DistNeighborSampler`` looks edge features up by the sampler's partition-local edge positions
as if they were global edge ids, so edge weights would arrive wrong: only unweighted graphs are
partitioned. Its constructor calls ``warnings.warn(..., stack_level=2)``, a keyword ``warn``
does not take; :func:`_pyg_distributed` routes it to ``stacklevel``. The METIS of pyg-lib's
CPU wheels may be built for AVX-512 and then dies with an illegal instruction on other CPUs;
:func:`partition_graph` tries it in a child process first and otherwise says so
(``parts="random"`` or an assignment of one's own avoid it).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_sparse import SparseTensor

from neuncut_pyg import distributed as dist
from neuncut_pyg._validation import check_int, check_real
from neuncut_pyg.adjacency import gcn_node_terms
from neuncut_pyg.gamma import off_diagonal_share
from neuncut_pyg.models.graph import read_graph
from neuncut_pyg.sampling import sampling_data

__all__ = [
    "COLUMNS",
    "METADATA_FILE",
    "FORMAT_VERSION",
    "require_pyg_lib",
    "graph_fingerprint",
    "partition_graph",
    "read_metadata",
    "SeedChunks",
    "LocalPartition",
    "open_partition",
    "close_partitions",
]

#: Per-node columns appended to ``x`` at partition time, in this order.
COLUMNS = ("deg", "count", "gcn_scale", "gcn_loop", "gcn_count")
#: Our metadata file in a partition directory.
METADATA_FILE = "neuncut_partitions.json"
START_FILE = "start.pt"
FORMAT_NAME = "neuncut-partitions"
FORMAT_VERSION = 1
#: The GCN normalization the stored terms follow unless ``partition_graph`` is told otherwise
#: (``GCNEncoder``'s defaults).
DEFAULT_GCN_NORMALIZATION = {"normalize": True, "improved": False, "add_self_loops": True}
# PyG's files in a partition directory, removed by partition_graph(..., overwrite=True).
_PYG_FILES = ("META.json", "node_map.pt", "edge_map.pt")
# Seconds a child process may take to try METIS on a tiny graph.
_METIS_PROBE_TIMEOUT = 300


# ---------------------------------------------------------------------------------------------
# PyG's engine
# ---------------------------------------------------------------------------------------------


def require_pyg_lib() -> None:
    """Raises ``ImportError`` (naming the install command) unless pyg-lib is importable: PyG's
    ``DistNeighborSampler`` runs pyg-lib operators (``torch.ops.pyg.dist_neighbor_sample``)."""
    import torch_geometric.typing

    if not torch_geometric.typing.WITH_PYG_LIB:
        raise ImportError("install pyg-lib for partitioned training: pip install pyg-lib -f "
                          f"https://data.pyg.org/whl/torch-{torch.__version__}.html "
                          "(PyG's distributed sampler runs its operators)")


def _warn_with_stack_level(message: Any, category: Any = None, stacklevel: int = 1,
                           stack_level: Optional[int] = None, **kwargs: Any) -> None:
    warnings.warn(message, category, stacklevel=(stack_level or stacklevel) + 1, **kwargs)


def _pyg_distributed():
    """``torch_geometric.distributed``, its deprecation warnings made callable (see the module
    docs) and shown once rather than per loader."""
    import torch_geometric.distributed as pyg_dist
    from torch_geometric.distributed import dist_neighbor_loader, dist_neighbor_sampler

    for module in (dist_neighbor_loader, dist_neighbor_sampler):
        if getattr(module, "warn", None) is warnings.warn:
            module.warn = _warn_with_stack_level
    warnings.filterwarnings("once", message="`torch_geometric.distributed` has been deprecated")
    return pyg_dist


# ---------------------------------------------------------------------------------------------
# Partitioning
# ---------------------------------------------------------------------------------------------


def graph_fingerprint(x: Tensor, edge_index: Tensor) -> str:
    """A digest of a graph's features and edges (BLAKE2b over their shapes, dtypes and bytes):
    partitions of another graph, or another copy of them, have another fingerprint."""
    digest = hashlib.blake2b(digest_size=16)
    for tensor in (x, edge_index):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{tuple(tensor.shape)}{tensor.dtype};".encode())
        digest.update(memoryview(tensor.view(torch.uint8).view(-1).numpy()))
    return digest.hexdigest()


def _ids_digest(ids: Tensor) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(memoryview(ids.sort().values.to(torch.int64).contiguous().view(torch.uint8).numpy()))
    return digest.hexdigest()


def _metis_crashes() -> Optional[str]:
    """``None`` if PyG's METIS runs here (tried on a tiny graph in a child process, since an
    illegal instruction kills the process that runs it), else what happened."""
    code = ("import torch; from torch_geometric.data import Data; from torch_geometric.loader import ClusterData; "
            "ring = torch.arange(8); ei = torch.stack([torch.cat([ring, (ring + 1) % 8]), torch.cat([(ring + 1) % 8, ring])]); "
            "ClusterData(Data(edge_index=ei, num_nodes=8), num_parts=2, log=False)")
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=_METIS_PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"it did not finish partitioning an 8-node ring within {_METIS_PROBE_TIMEOUT} s"
    if done.returncode == 0:
        return None
    if done.returncode == -4:  # SIGILL
        return ("it died of an illegal instruction: this pyg-lib build's METIS uses CPU instructions (AVX-512) "
                "that this machine lacks")
    return f"it failed (exit code {done.returncode}): {done.stderr.strip().splitlines()[-1:]}"


def _assignment(parts: Union[str, Tensor], num_nodes: int, num_parts: int, seed: int) -> Optional[Tensor]:
    """The node -> part assignment to impose on PyG's Partitioner, or ``None`` for its METIS."""
    if isinstance(parts, Tensor):
        if parts.shape != (num_nodes,) or parts.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"parts must be an integer tensor [{num_nodes}] giving each node's part, got "
                             f"{parts.dtype} of shape {list(parts.shape)}")
        counts = torch.bincount(parts.long().clamp(0, num_parts), minlength=num_parts + 1)
        if int(parts.min()) < 0 or int(parts.max()) >= num_parts or bool((counts[:num_parts] == 0).any()):
            raise ValueError(f"parts must give every node a part in 0..{num_parts - 1} and every part a node")
        return parts.long()
    if parts == "random":
        generator = torch.Generator().manual_seed(seed)
        return torch.randperm(num_nodes, generator=generator) % num_parts
    if parts == "metis":
        problem = _metis_crashes()
        if problem is not None:
            raise RuntimeError(f"PyG's Partitioner cannot run METIS on this machine: {problem}. Partition elsewhere "
                               "and copy the directory, or pass parts='random' (balanced, but about "
                               "(1 - 1/num_parts) of the edges then cross partitions and are sampled over RPC) or "
                               "parts=<tensor of each node's part> from a partitioner of your own")
        return None
    raise ValueError(f"parts must be 'metis', 'random' or a tensor of each node's part, got {parts!r}")


def _run_partitioner(data: Data, num_parts: int, root: Path, assignment: Optional[Tensor]) -> None:
    """PyG's Partitioner on ``data``; with ``assignment``, its clustering step returns that
    assignment instead of calling METIS (everything else, the files included, is PyG's)."""
    from unittest import mock

    from torch_geometric.loader import ClusterData

    partitioner = _pyg_distributed().Partitioner(data, num_parts, str(root))
    if assignment is None:
        partitioner.generate_partition()
        return
    with mock.patch.object(ClusterData, "_metis", lambda self, edge_index, num_nodes: assignment):
        partitioner.generate_partition()


def read_metadata(root: Union[str, os.PathLike]) -> Dict[str, Any]:
    """The metadata :func:`partition_graph` wrote in ``root``, checked for its format."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"partition directory {str(root)!r} does not exist: write it with "
                                "neuncut_pyg.partition.partition_graph(data, num_parts, root)")
    path = root / METADATA_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{str(root)!r} holds no {METADATA_FILE}: it was not written by partition_graph, or "
                                "its partitioning did not finish; (re)write it with partition_graph(..., overwrite=True)")
    with open(path) as file:
        meta = json.load(file)
    if meta.get("format") != FORMAT_NAME or meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{str(path)!r} is not partition metadata of format {FORMAT_NAME!r} version {FORMAT_VERSION} "
                         f"(found {meta.get('format')!r} version {meta.get('version')!r}): re-partition with "
                         "partition_graph(..., overwrite=True)")
    return meta


def _clear(root: Path) -> None:
    (root / METADATA_FILE).unlink(missing_ok=True)
    (root / START_FILE).unlink(missing_ok=True)
    for name in _PYG_FILES:
        (root / name).unlink(missing_ok=True)
    for part in root.glob("part_*"):
        if part.is_dir():
            shutil.rmtree(part)


def partition_graph(data: Data, num_parts: int, root: Union[str, os.PathLike], *, parts: Union[str, Tensor] = "metis",
                    num_clusters: Optional[int] = None, gcn_normalization: Optional[Dict[str, bool]] = None,
                    seed: int = 0, overwrite: bool = False) -> Dict[str, Any]:
    r"""Cuts ``data`` into ``num_parts`` partitions with PyG's
    :class:`~torch_geometric.distributed.Partitioner`, for training on ``num_parts`` ranks
    (:meth:`NeuNcut.fit_partitioned <neuncut_pyg.models.NeuNcut.fit_partitioned>`).

    Run once, on a machine that holds the whole graph. ``x`` gains the columns of
    :data:`COLUMNS` (full-graph degree, neighbour count, GCN terms); our metadata (sizes, a
    fingerprint of the graph and of every part, :math:`\rho`) is written last. A ``root``
    already holding partitions of the same graph with the same settings is returned as it is.

    Args:
        data (torch_geometric.data.Data): An undirected, unweighted graph with features ``x``
            (see the module docs for why edge weights are refused).
        num_parts (int): Partitions, one per rank, ``>= 2``.
        root (str or os.PathLike): The directory to write (created if absent).
        parts (str or torch.Tensor): ``"metis"`` (PyG's), ``"random"`` (balanced, seeded), or
            each node's part ``[N]`` from a partitioner of one's own. (default: ``"metis"``)
        num_clusters (int, optional): Also compute NeuNcut's spectral start for this many
            clusters (:func:`~neuncut_pyg.start.spectral_start`, on the whole graph), which
            ``fit_partitioned(init="auto")`` then fits the network to, as ``fit`` does.
        gcn_normalization (dict, optional): ``normalize``, ``improved``, ``add_self_loops`` of
            the GCN encoder the stored terms are for. (default: the GCN encoder's defaults)
        seed (int): Seeds ``parts="random"`` and the start. (default: ``0``)
        overwrite (bool): Replace partitions of another graph in ``root``. (default: ``False``)

    Returns:
        dict: The metadata written to ``root/neuncut_partitions.json``.

    Raises:
        ImportError: without pyg-lib. ValueError: on a weighted or malformed graph, a ``root``
        holding something else, or bad settings. RuntimeError: if METIS cannot run here.
    """
    require_pyg_lib()
    num_parts = check_int(num_parts, "num_parts", minimum=2)
    seed = check_int(seed, "seed", minimum=0)
    normalization = dict(DEFAULT_GCN_NORMALIZATION)
    if gcn_normalization is not None:
        unknown = set(gcn_normalization) - set(normalization)
        if unknown:
            raise ValueError(f"gcn_normalization takes {sorted(normalization)}, got {sorted(unknown)}")
        normalization.update({key: bool(value) for key, value in gcn_normalization.items()})
    x = getattr(data, "x", None)
    if not isinstance(x, Tensor) or x.dim() != 2:
        raise ValueError("partition_graph needs node features data.x [N, F]")
    graph = read_graph(data, x.size(1), "partition_graph")
    if graph.edge_weight is not None or not isinstance(graph.edge_index, Tensor) or graph.edge_index.is_sparse:
        raise ValueError("partition_graph takes an unweighted graph as edge_index [2, E]: PyG's distributed sampler "
                         "(torch_geometric 2.8) looks edge features up by partition-local positions, so edge weights "
                         "would reach the batches wrong")
    n = graph.num_nodes
    if num_parts > n:
        raise ValueError(f"num_parts={num_parts} partitions cannot be cut from {n} nodes")
    if num_clusters is not None and not 2 <= check_int(num_clusters, "num_clusters") <= n:
        raise ValueError(f"num_clusters must be in 2..{n}, got {num_clusters}")
    dense = x.to_dense() if x.layout != torch.strided else x
    sampled = sampling_data(dense, graph.edge_index, num_nodes=n)
    fingerprint = graph_fingerprint(dense, sampled.edge_index)
    settings = {"num_parts": num_parts, "gcn_normalization": normalization, "num_clusters": num_clusters,
                "parts": parts if isinstance(parts, str) else "given", "seed": seed}

    root = Path(root)
    if (root / METADATA_FILE).is_file():
        try:
            existing = read_metadata(root)
        except ValueError:
            existing = None
        if existing is not None and existing["fingerprint"] == fingerprint and existing["settings"] == settings:
            return existing
        if not overwrite:
            raise ValueError(f"{str(root)!r} holds partitions of another graph or with other settings "
                             f"(fingerprint {None if existing is None else existing.get('fingerprint')}, this graph's "
                             f"{fingerprint}): pass overwrite=True to replace them, or choose another root")
    elif root.is_dir() and any(root.iterdir()) and not overwrite:
        raise ValueError(f"{str(root)!r} is not empty and holds no partitions written by partition_graph: choose an "
                         "empty or new directory, or pass overwrite=True to write PyG's files into it")
    root.mkdir(parents=True, exist_ok=True)
    _clear(root)

    assignment = _assignment(parts, n, num_parts, seed)
    src, dst = sampled.edge_index
    terms = gcn_node_terms(src, dst, None, n, **normalization)
    columns = torch.stack([sampled.deg, sampled.count.to(sampled.deg.dtype), terms.scale, terms.loop,
                           terms.count.to(terms.scale.dtype)], dim=1).to(dense.dtype)
    part_data = Data(x=torch.cat([dense, columns], dim=1), edge_index=sampled.edge_index, num_nodes=n)
    del columns, terms
    _run_partitioner(part_data, num_parts, root, assignment)
    del part_data
    for part in range(num_parts):
        # PyG saves each part's x as a view of every node's (torch.save writes a view's whole
        # storage), so each rank would read the features of all: rewrite them compactly.
        path = root / f"part_{part}" / "node_feats.pt"
        stored = torch.load(path, weights_only=True)
        stored["feats"]["x"] = stored["feats"]["x"].clone()
        torch.save(stored, path)
        del stored

    node_map = torch.load(root / "node_map.pt", weights_only=True)
    in_edges = torch.bincount(node_map[dst], minlength=num_parts)
    summaries = []
    for part in range(num_parts):
        ids = (node_map == part).nonzero().view(-1)
        summaries.append({"num_nodes": int(ids.numel()), "num_edges": int(in_edges[part]), "ids": _ids_digest(ids)})
    start = None
    if num_clusters is not None:
        from neuncut_pyg.start import spectral_start

        found = spectral_start(dense, graph.adjacency, num_clusters, seed=seed)
        torch.save({"labels": torch.from_numpy(found.labels), "margins": torch.from_numpy(found.margins),
                    "steps": int(found.steps), "modularity": float(found.modularity)}, root / START_FILE)
        start = {"num_clusters": int(num_clusters), "file": START_FILE}
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "fingerprint": fingerprint,
        "settings": settings,
        "num_nodes": n,
        "num_edges": int(sampled.edge_index.size(1)),
        "num_features": int(dense.size(1)),
        "columns": list(COLUMNS),
        "off_diagonal_share": off_diagonal_share(sampled.edge_index, num_nodes=n),
        "parts": summaries,
        "start": start,
    }
    with open(root / METADATA_FILE, "w") as file:
        json.dump(meta, file, indent=1)
    return meta


# ---------------------------------------------------------------------------------------------
# One rank's partition
# ---------------------------------------------------------------------------------------------


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
        pyg_dist = _pyg_distributed()
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
                or graph["col"].numel() != expected["num_edges"] or _ids_digest(global_ids) != expected["ids"]
                or x.shape != (expected["num_nodes"], self.num_features + len(COLUMNS))):
            raise ValueError(f"{str(part_dir)!r} does not hold the partition {METADATA_FILE} describes (its nodes, "
                             "edges or columns differ): the files come from another graph or partitioning; "
                             "re-partition with partition_graph(..., overwrite=True) or copy the whole directory again")
        src, dst = graph["row"], graph["col"]
        del graph
        if not bool((node_map[dst] == rank).all()):
            raise ValueError(f"{str(part_dir)!r} holds edges into nodes of other partitions: PyG's Partitioner stores "
                             "a partition's edges by destination, which the loss relies on")

        self.graph_store = pyg_dist.LocalGraphStore.from_data(torch.empty(0, dtype=torch.long), torch.stack([src, dst]),
                                                              self.num_nodes, is_sorted=True)
        self.graph_store.num_partitions, self.graph_store.partition_idx = len(self.sizes), rank
        self.graph_store.node_pb, self.graph_store.edge_pb = node_map, None
        self.graph_store.meta = pyg_meta
        self.feature_store = pyg_dist.LocalFeatureStore.from_data(global_ids, x)
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
        self.adjacency = SparseTensor(rowptr=rowptr, col=self.graph_store.get_edge_index(edge_type=None, layout="coo")[0],
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

    def start(self):
        """The spectral start computed at partition time
        (:class:`~neuncut_pyg.start.SmoothedFeatureClustering`, every node's), or ``None``."""
        if self.meta.get("start") is None:
            return None
        from neuncut_pyg.start import SmoothedFeatureClustering

        stored = torch.load(self.root / self.meta["start"]["file"], weights_only=True)
        return SmoothedFeatureClustering(stored["labels"].numpy(), stored["steps"], stored["modularity"],
                                         stored["margins"].numpy())

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
        """Starts RPC between the ranks (once per process), after checking that rank 0's port
        can be reached (:func:`_check_rpc_reachable`): PyG's own start waits 30 minutes."""
        if self._rpc is not None:
            return
        from torch_geometric.distributed.rpc import init_rpc, rpc_is_initialized

        if not rpc_is_initialized():
            _check_rpc_reachable(address, port, timeout)
            try:
                init_rpc(self._context(), address, port, rpc_timeout=timeout)
            except RuntimeError as err:
                raise RuntimeError(f"partitioned training could not start RPC at {address}:{port}: {err}") from err
        self._rpc = (address, port, timeout)

    def _context(self):
        pyg_dist = _pyg_distributed()
        # DistLoader names its RPC worker 'mp_sampling_worker-<rank>' for num_workers=0.
        return pyg_dist.DistContext(rank=self.rank, global_rank=self.rank, world_size=self.world_size,
                                    global_world_size=self.world_size, group_name="mp_sampling_worker")

    def loader(self, kind: str, num_neighbors: Sequence[int]):
        """The ``DistNeighborLoader`` over this partition's nodes for ``kind`` ``"train"``
        (:attr:`train_seeds`) or ``"inference"`` (:attr:`inference_seeds`), made once per fan-out;
        collective: every rank asks for the same loaders in the same order."""
        key = (kind, tuple(int(m) for m in num_neighbors))
        if key not in self._loaders:
            if self._rpc is None:
                raise RuntimeError("LocalPartition.loader: call connect() first")
            address, port, timeout = self._rpc
            pyg_dist = _pyg_distributed()
            self._loaders[key] = pyg_dist.DistNeighborLoader(
                (self.feature_store, self.graph_store), num_neighbors=list(key[1]), master_addr=address,
                master_port=port, current_ctx=pyg_dist.DistContext(
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


def _check_rpc_reachable(address: str, port: int, timeout: float) -> None:
    r"""Raises on every rank unless every rank can open a TCP connection to rank 0's RPC port
    within ``timeout`` seconds (rank 0 listens there meanwhile); collective over the default
    process group, which is up already."""
    rank = dist.get_rank()
    problem: Optional[str] = None
    server: Optional[socket.socket] = None
    if rank == 0:
        try:
            server = socket.create_server(("", port), reuse_port=False)
        except OSError as err:
            problem = f"rank 0 cannot listen on port {port} for RPC ({err}): pass another rpc_port"
    torch.distributed.barrier()
    if rank != 0:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((address, port), timeout=max(0.1, deadline - time.monotonic())).close()
                break
            except OSError as err:
                if time.monotonic() >= deadline:
                    problem = (f"rank {rank} could not reach rank 0's RPC port {address}:{port} within {timeout:g} s "
                               f"({err}): the port must be open on rank 0's machine (rpc_port, default MASTER_PORT + 1) "
                               "and the address name rank 0's machine as the other machines reach it (rpc_address, "
                               "default MASTER_ADDR)")
                    break
                time.sleep(0.2)
    problems = [None] * dist.get_world_size()
    torch.distributed.all_gather_object(problems, problem)
    if server is not None:
        server.close()
    found = [p for p in problems if p is not None]
    if found:
        raise RuntimeError("RPC for partitioned training is not reachable: " + "; ".join(found))


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
        raise FileNotFoundError(f"rank(s) {failed} could not read the partitions at {str(root)!r}: {everyone[failed[0]][0]}")
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
    from torch_geometric.distributed.rpc import shutdown_rpc

    _OPEN.clear()
    shutdown_rpc(graceful=True)
