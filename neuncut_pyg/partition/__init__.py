r"""Graphs cut into partitions for training on PyG's distributed engine, one partition per rank
(``docs/partitioned.md``).

- :mod:`~neuncut_pyg.partition.directory`: :func:`partition_graph` cuts a graph once with PyG's
  ``Partitioner`` (METIS) on a machine that holds it whole and writes the partition directory,
  full-graph degrees and GCN terms included; :func:`read_metadata` reads it back;
- :mod:`~neuncut_pyg.partition.local`: :func:`open_partition` loads one rank's partition into
  PyG's local stores and hands out its ``DistNeighborLoader`` batches
  (:class:`LocalPartition`);
- :mod:`~neuncut_pyg.partition.engine`: what of PyG's engine is used, and its repairs (pyg-lib
  required, the deprecation notice, RPC reachability).

The training itself is :class:`~neuncut_pyg.fitting.partitioned.Partitioned`, reached through
:meth:`NeuNcut.fit_partitioned <neuncut_pyg.models.NeuNcut.fit_partitioned>`.
"""
from neuncut_pyg.partition.directory import (
    COLUMNS,
    FORMAT_VERSION,
    METADATA_FILE,
    graph_fingerprint,
    partition_graph,
    read_metadata,
)
from neuncut_pyg.partition.engine import PYG_LIB_INSTALL, require_pyg_lib
from neuncut_pyg.partition.local import LocalPartition, SeedChunks, close_partitions, open_partition

__all__ = [
    "COLUMNS",
    "FORMAT_VERSION",
    "METADATA_FILE",
    "graph_fingerprint",
    "partition_graph",
    "read_metadata",
    "PYG_LIB_INSTALL",
    "require_pyg_lib",
    "LocalPartition",
    "SeedChunks",
    "close_partitions",
    "open_partition",
]
