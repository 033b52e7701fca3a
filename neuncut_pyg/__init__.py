"""neuncut-pyg: Neural Normalized Cut (NeuNcut) for PyTorch Geometric.

Data flows one way: graph -> start -> encoder -> soft memberships S -> loss statistics -> ratio
-> optimizer; at inference, graph (old and new nodes) -> encoder -> S -> labels.

- :mod:`neuncut_pyg.loss`: the relaxed normalized cut (the one place it is written down)
- :mod:`neuncut_pyg.pool`: ``NcutPooling``, a DMoNPooling-style layer for hierarchical GNNs
- :mod:`neuncut_pyg.models`: ``NeuNcut``, the estimator, and its encoders
- :mod:`neuncut_pyg.start`: the method's start (spectral clustering of smoothed features,
  merge-split refinement, the core schedule)
- :mod:`neuncut_pyg.fitting`: the training loops, one strategy per mode, the restart loop
- :mod:`neuncut_pyg.sampling`: a mini-batch's unbiased share of the full graph's statistics
- :mod:`neuncut_pyg.gamma`: the label-free orthogonality weight ``auto_gamma``
- :mod:`neuncut_pyg.propagation`: feature smoothing over the graph
- :mod:`neuncut_pyg.metrics`: partition and label scores
- :mod:`neuncut_pyg.baselines`: what NeuNcut is compared with (spectral clustering, k-means)
- :mod:`neuncut_pyg.data`, :mod:`neuncut_pyg.io`, :mod:`neuncut_pyg.checkpoint`,
  :mod:`neuncut_pyg.cli`: datasets, files, saved models and the command line
"""
from neuncut_pyg._version import __version__
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
from neuncut_pyg.baselines import kmeans_features, spectral_clustering
from neuncut_pyg.start import merge_split_refinement, smoothed_feature_clustering
from neuncut_pyg.gamma import auto_gamma
from neuncut_pyg.propagation import propagate_features
from neuncut_pyg.metrics import evaluate_clustering


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
