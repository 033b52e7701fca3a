r"""The partition directory: :func:`partition_graph` cuts a graph once with PyG's
:class:`~torch_geometric.distributed.Partitioner` (METIS) and writes, beside PyG's files, what
NeuNcut's training needs that PyG does not keep; :func:`read_metadata` reads it back.

**Columns written at partition time.** The loss and the GCN encoder need per-node terms of the
*full* graph that a partition cannot compute: the degree :math:`d_i`, the neighbour count
(:func:`~neuncut_pyg.sampling.sampling_data`) and the GCN normalization terms
(:func:`~neuncut_pyg.adjacency.gcn_node_terms`). PyG's Partitioner writes only ``x`` as node
features, so they are appended to ``x`` as columns (:data:`COLUMNS`), split off again in every
batch (:meth:`~neuncut_pyg.partition.local.LocalPartition.split`). The graph's off-diagonal
share :math:`\rho` (for ``gamma="auto"``, :func:`~neuncut_pyg.gamma.gamma_for_share`) and,
optionally, the method's spectral start (its labels and margins, so that ranks can fit the
network to it) are computed on the whole graph here too: no rank can later.

**What the network reads.** By default the stored features are the input a GNN encoder reads in
a mini-batch fit (:class:`~neuncut_pyg.models.encoders.MessagePassingEncoder`): ``x`` smoothed
over the whole graph to the start's depth (the default depth without a start) and standardized
(:class:`~neuncut_pyg.models.input_scaling.InputScaling`, whose fitted state is saved beside them
and loaded into the model by ``fit_partitioned``), so that partitioned and mini-batch training
fit the same network. ``smoothed_input=False`` stores ``x`` as given (a custom encoder's input).

**Files.** ``root/`` holds PyG's ``META.json``, ``node_map.pt``, ``edge_map.pt`` and
``part_<p>/`` (whose features are rewritten compactly: PyG saves each part's ``x`` as a view of
every node's, and ``torch.save`` writes a view's whole storage), and ours:
``neuncut_partitions.json`` (:data:`METADATA_FILE`: format version, sizes, the columns, a
fingerprint of the graph and of every part) and ``start.pt``. The metadata file is written
last, so a directory whose partitioning was interrupted is refused.

**Limits.** PyG's ``DistNeighborSampler`` (torch_geometric 2.8) looks edge features up by the
sampler's partition-local edge positions as if they were global edge ids, so edge weights
would arrive wrong: only unweighted graphs are partitioned. The METIS of pyg-lib's CPU wheels
may be built for AVX-512 and then dies with an illegal instruction on other CPUs:
:func:`partition_graph` tries it in a child process first and otherwise says so
(``parts="random"`` or an assignment of one's own avoid it).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Union
from unittest import mock

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.distributed import Partitioner
from torch_geometric.loader import ClusterData

from neuncut_pyg._validation import check_int
from neuncut_pyg.adjacency import gcn_node_terms
from neuncut_pyg.gamma import off_diagonal_share
from neuncut_pyg.models.encoders import RAW_INPUT, fit_input
from neuncut_pyg.models.graph import read_graph
from neuncut_pyg.models.input_scaling import InputScaling
from neuncut_pyg.partition.engine import require_pyg_lib
from neuncut_pyg.sampling import sampling_data
from neuncut_pyg.start import spectral_start

__all__ = ["COLUMNS", "METADATA_FILE", "FORMAT_VERSION", "graph_fingerprint", "ids_digest", "partition_graph",
           "read_metadata"]

#: Per-node columns appended to ``x`` at partition time, in this order.
COLUMNS = ("deg", "count", "gcn_scale", "gcn_loop", "gcn_count")
#: Our metadata file in a partition directory.
METADATA_FILE = "neuncut_partitions.json"
START_FILE = "start.pt"
#: The fitted state of the stored input (:class:`~neuncut_pyg.models.input_scaling.InputScaling`).
INPUT_FILE = "input.pt"
FORMAT_NAME = "neuncut-partitions"
FORMAT_VERSION = 2  # 2: the stored features are the network input (INPUT_FILE)
#: The GCN normalization the stored terms follow unless ``partition_graph`` is told otherwise
#: (``GCNEncoder``'s defaults).
DEFAULT_GCN_NORMALIZATION = {"normalize": True, "improved": False, "add_self_loops": True}
# PyG's files in a partition directory, removed by partition_graph(..., overwrite=True).
_PYG_FILES = ("META.json", "node_map.pt", "edge_map.pt")
# Seconds a child process may take to try METIS on a tiny graph.
_METIS_PROBE_TIMEOUT = 300


def graph_fingerprint(x: Tensor, edge_index: Tensor) -> str:
    """A digest of a graph's features and edges (BLAKE2b over their shapes, dtypes and bytes):
    partitions of another graph, or another copy of them, have another fingerprint."""
    digest = hashlib.blake2b(digest_size=16)
    for tensor in (x, edge_index):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{tuple(tensor.shape)}{tensor.dtype};".encode())
        digest.update(memoryview(tensor.view(torch.uint8).view(-1).numpy()))
    return digest.hexdigest()


def ids_digest(ids: Tensor) -> str:
    """A digest of a set of node ids (sorted): which nodes a part holds."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(memoryview(ids.sort().values.to(torch.int64).contiguous().view(torch.uint8).numpy()))
    return digest.hexdigest()


def _metis_crashes() -> Optional[str]:
    """``None`` if PyG's METIS runs here (tried on a tiny graph in a child process, since an
    illegal instruction kills the process that runs it), else what happened."""
    code = ("import torch; from torch_geometric.data import Data; from torch_geometric.loader import ClusterData; "
            "ring = torch.arange(8); "
            "ei = torch.stack([torch.cat([ring, (ring + 1) % 8]), torch.cat([(ring + 1) % 8, ring])]); "
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
    partitioner = Partitioner(data, num_parts, str(root))
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
                                "its partitioning did not finish; (re)write it with "
                                "partition_graph(..., overwrite=True)")
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
    (root / INPUT_FILE).unlink(missing_ok=True)
    for name in _PYG_FILES:
        (root / name).unlink(missing_ok=True)
    for part in root.glob("part_*"):
        if part.is_dir():
            shutil.rmtree(part)


def partition_graph(data: Data, num_parts: int, root: Union[str, os.PathLike], *, parts: Union[str, Tensor] = "metis",
                    num_clusters: Optional[int] = None, gcn_normalization: Optional[Dict[str, bool]] = None,
                    smoothed_input: bool = True, seed: int = 0, overwrite: bool = False) -> Dict[str, Any]:
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
        smoothed_input (bool): Store the input a built-in GNN encoder reads in a mini-batch fit
            (``x`` smoothed to the start's depth and standardized) rather than ``x`` as given
            (for a custom encoder). (default: ``True``)
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
                "parts": parts if isinstance(parts, str) else "given", "seed": seed,
                "smoothed_input": bool(smoothed_input)}

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
    found, smoothed = (None, None) if num_clusters is None else \
        spectral_start(dense, graph.adjacency, num_clusters, seed=seed, return_features=True)
    scaling = InputScaling(dense.size(1), RAW_INPUT)
    stored_x = dense
    if smoothed_input:  # what MessagePassingEncoder reads in a mini-batch fit, the start's features reused
        stored_x = fit_input(scaling, graph, "auto", None if found is None else int(found.steps), smoothed)
        stored_x = stored_x.to(dense.dtype)
    del smoothed
    torch.save(scaling.state_dict(), root / INPUT_FILE)
    src, dst = sampled.edge_index
    terms = gcn_node_terms(src, dst, None, n, **normalization)
    columns = torch.stack([sampled.deg, sampled.count.to(sampled.deg.dtype), terms.scale, terms.loop,
                           terms.count.to(terms.scale.dtype)], dim=1).to(dense.dtype)
    part_data = Data(x=torch.cat([stored_x, columns], dim=1), edge_index=sampled.edge_index, num_nodes=n)
    del columns, terms, stored_x
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
        summaries.append({"num_nodes": int(ids.numel()), "num_edges": int(in_edges[part]), "ids": ids_digest(ids)})
    start = None
    if found is not None:
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
        "input": {"steps": scaling.depth, "file": INPUT_FILE},
    }
    with open(root / METADATA_FILE, "w") as file:
        json.dump(meta, file, indent=1)
    return meta

