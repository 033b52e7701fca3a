"""neuncut-pyg: Neural Normalized Cut (NeuNcut) for PyTorch Geometric.

Data flows one way: graph -> encoder -> soft memberships S -> loss terms -> optimizer; at
inference, graph (old and new nodes) -> encoder -> S -> labels.

- :mod:`neuncut_pyg.loss`: the relaxed normalized cut (the one place it is written down)
- :mod:`neuncut_pyg.pool`: ``NcutPooling``, a DMoNPooling-style layer for hierarchical GNNs
- :mod:`neuncut_pyg.models`: ``NeuNcut``, a GNN encoder with a softmax head, fit / predict
- :mod:`neuncut_pyg.train`: the training loops (full batch, mini-batch, fit to a start partition)
- :mod:`neuncut_pyg.gamma`: the label-free orthogonality weight ``auto_gamma``
- :mod:`neuncut_pyg.propagation`: feature smoothing over the graph
- :mod:`neuncut_pyg.metrics`: partition and label scores
- :mod:`neuncut_pyg.baselines`: spectral clustering, feature k-means, spectral clustering of
  smoothed features (NeuNcut's spectral start)
- :mod:`neuncut_pyg.refinement`: merge-split moves that improve a discrete partition
- :mod:`neuncut_pyg.data`: dataset loaders
"""
from neuncut_pyg.loss import (
    DEFAULT_COLLAPSE_WEIGHT,
    DEFAULT_GAMMA,
    ModularityLossOutput,
    NcutLossOutput,
    NcutStatistics,
    RelaxedNcutLoss,
    dense_ncut_statistics,
    ncut_loss_from_statistics,
    modularity_loss_from_statistics,
    ncut_statistics,
    relaxed_modularity_loss,
    relaxed_ncut_loss,
    relaxed_ratio_cut_loss,
)

from neuncut_pyg.pool import NcutPooling
from neuncut_pyg.models import NeuNcut
from neuncut_pyg.data import DatasetNotFoundError, load_dataset, load_ogb_node, load_planetoid
from neuncut_pyg.baselines import kmeans_features, smoothed_feature_clustering, spectral_clustering
from neuncut_pyg.refinement import merge_split_refinement
from neuncut_pyg.gamma import auto_gamma
from neuncut_pyg.propagation import propagate_features
from neuncut_pyg.metrics import evaluate_clustering

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_GAMMA",
    "NcutLossOutput",
    "NcutStatistics",
    "RelaxedNcutLoss",
    "dense_ncut_statistics",
    "ncut_loss_from_statistics",
    "ncut_statistics",
    "relaxed_ncut_loss",
    "DEFAULT_COLLAPSE_WEIGHT",
    "ModularityLossOutput",
    "modularity_loss_from_statistics",
    "relaxed_modularity_loss",
    "relaxed_ratio_cut_loss",
    "NcutPooling",
    "NeuNcut",
    "load_dataset",
    "load_ogb_node",
    "DatasetNotFoundError",
    "load_planetoid",
    "kmeans_features",
    "spectral_clustering",
    "smoothed_feature_clustering",
    "merge_split_refinement",
    "auto_gamma",
    "propagate_features",
    "evaluate_clustering",
    "__version__",
]
