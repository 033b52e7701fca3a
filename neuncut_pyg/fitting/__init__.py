r"""How ``NeuNcut.fit`` trains: the training loops (:mod:`~neuncut_pyg.fitting.loops`), one
fitting strategy per mode (:mod:`~neuncut_pyg.fitting.strategies`: full batch, mini-batch,
data-parallel; :mod:`~neuncut_pyg.fitting.partitioned`: one rank per graph partition) and the
restart loop over them (:mod:`~neuncut_pyg.fitting.restarts`)."""
from neuncut_pyg.fitting.loops import TrainHistory, train_full_batch, train_mini_batch, train_to_partition
from neuncut_pyg.fitting.restarts import FittedRuns, KeptPartition, StartTarget, fit_runs, never_worse_than_start
from neuncut_pyg.fitting.strategies import (
    DataParallel,
    FittingStrategy,
    FullBatch,
    MiniBatch,
    SeedBatches,
    TrainSettings,
    seeds_of,
)

__all__ = [
    "TrainHistory",
    "train_full_batch",
    "train_mini_batch",
    "train_to_partition",
    "FittedRuns",
    "StartTarget",
    "fit_runs",
    "KeptPartition",
    "never_worse_than_start",
    "DataParallel",
    "FittingStrategy",
    "FullBatch",
    "MiniBatch",
    "SeedBatches",
    "TrainSettings",
    "seeds_of",
]
