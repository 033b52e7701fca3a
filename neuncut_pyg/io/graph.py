r"""A graph from files: an edge list, plus the nodes that only a features file or a node list names."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np
import pandas as pd
from torch import Tensor

from neuncut_pyg.io.base import InputError, PathLike
from neuncut_pyg.io.edges import read_edge_list
from neuncut_pyg.io.nodes import (
    _FEATURES,
    _features_in_order,
    _positions,
    _read_node_table,
    _read_npy_features,
    read_node_list,
)

__all__ = ["FileGraph", "read_graph"]


@dataclass
class FileGraph:
    """A graph read by :func:`read_graph`.

    Attributes:
        edge_index (torch.Tensor): ``[2, E]``, both directions, sorted (see :func:`read_edge_list`).
        edge_weight (torch.Tensor or None): ``[E]`` ``float32``, or None without a weight column.
        node_ids (list of str): The ``N`` node ids in index order: the edge list's nodes in
            order of first appearance, then the isolated nodes in the order of their file.
        x (torch.Tensor or None): ``float32`` features ``[N, F]`` when a features file was given.
        num_isolated (int): How many nodes (the last ones) have no edges.
    """

    edge_index: Tensor
    edge_weight: Optional[Tensor]
    node_ids: List[str]
    x: Optional[Tensor] = None
    num_isolated: int = 0


def read_graph(edges: PathLike, *, features: Optional[PathLike] = None, nodes: Optional[PathLike] = None,
               progress: bool = False) -> FileGraph:
    r"""Reads a graph from an edge list, with the nodes that only a features file or a node list names.

    An edge list cannot name a node without edges; the features file (or, for a graph without
    features, the node list) can. Its ids that the edge list lacks become isolated nodes,
    numbered after the edge list's nodes in the order of their file.

    Args:
        edges (str or os.PathLike): The edge list (:func:`read_edge_list`).
        features (str or os.PathLike, optional): Node features (:func:`read_features`). Every
            node of the edge list needs a row; a ``.npy`` file's rows follow the edge list's
            nodes, so it cannot add nodes.
        nodes (str or os.PathLike, optional): A node list (:func:`read_node_list`), for graphs
            without features.
        progress (bool): Show tqdm bars while reading (on a terminal). (default: ``False``)

    Raises:
        InputError: as the readers; for an edge-list node that the features file lacks, with
            the edge list's line that names it; if both ``features`` and ``nodes`` are given.
    """
    if features is not None and nodes is not None:
        raise InputError("give the nodes without edges either in the features file or in a node list, not both")
    edge_index, edge_weight, node_ids = read_edge_list(edges, progress=progress)
    if features is not None and Path(features).suffix.lower() == ".npy":
        return FileGraph(edge_index, edge_weight, node_ids, _read_npy_features(features, len(node_ids)))
    if features is None and nodes is None:
        return FileGraph(edge_index, edge_weight, node_ids)
    if features is not None:
        table = _read_node_table(features, _FEATURES, progress)
        listed = table.ids
    else:
        listed = np.asarray(read_node_list(nodes, progress=progress), dtype=object)
    known = pd.Index(node_ids, dtype=object)
    new = listed[known.get_indexer(listed) < 0]
    new = new[~pd.Index(new, dtype=object).duplicated()]  # a repeated row is reported below
    all_ids = node_ids + new.tolist()
    if features is None:
        return FileGraph(edge_index, edge_weight, all_ids, num_isolated=len(new))
    position = _positions(features, "features", table, all_ids, edges=edges)
    return FileGraph(edge_index, edge_weight, all_ids, _features_in_order(table, position, len(all_ids)), len(new))
