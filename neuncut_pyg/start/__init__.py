r"""The method's start: the label-free partition that ``NeuNcut.fit(init="spectral")`` fits its
network to before it minimizes the relaxed normalized cut.

The relaxed Ncut is non-convex and random starts end in poor local minima; a spectral
clustering of the graph-smoothed features is a far better place to begin.

- :mod:`~neuncut_pyg.start.smoothed`: :func:`smoothed_feature_clustering` (spectral clustering
  of graph-smoothed features, depth chosen by modularity) and :func:`spectral_start`, the
  settings the estimator runs it with;
- :mod:`~neuncut_pyg.start.embedding`: the spectral embedding of feature rows and the k-means
  pieces that partition it;
- :mod:`~neuncut_pyg.start.refinement`: merge-split moves that improve a discrete partition;
- :mod:`~neuncut_pyg.start.core`: the core schedule (how much of each start cluster every run
  is fitted to).
"""
from neuncut_pyg.start.core import CORE_SHRINK, centre_margins, core_fractions, partition_core
from neuncut_pyg.start.embedding import feature_spectral_embedding
from neuncut_pyg.start.refinement import MergeSplitRefinement, merge_split_refinement
from neuncut_pyg.start.smoothed import (
    DEFAULT_KMEANS_SAMPLE_SIZE,
    DEFAULT_SMOOTHING_STEPS,
    SmoothedFeatureClustering,
    smoothed_feature_clustering,
    spectral_start,
)

__all__ = [
    "CORE_SHRINK",
    "centre_margins",
    "core_fractions",
    "partition_core",
    "feature_spectral_embedding",
    "MergeSplitRefinement",
    "merge_split_refinement",
    "DEFAULT_KMEANS_SAMPLE_SIZE",
    "DEFAULT_SMOOTHING_STEPS",
    "SmoothedFeatureClustering",
    "smoothed_feature_clustering",
    "spectral_start",
]
