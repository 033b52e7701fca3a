r"""How ``NeuNcut.fit`` trains: the training loops (:mod:`~neuncut_pyg.fitting.loops`), one
fitting strategy per mode (:mod:`~neuncut_pyg.fitting.strategies`: full batch, mini-batch,
data-parallel) and the restart loop over them (:mod:`~neuncut_pyg.fitting.restarts`)."""
from neuncut_pyg.fitting.loops import TrainHistory, train_full_batch, train_mini_batch, train_to_partition
from neuncut_pyg.fitting.restarts import FittedRuns, StartTarget, fit_runs
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
    "DataParallel",
    "FittingStrategy",
    "FullBatch",
    "MiniBatch",
    "SeedBatches",
    "TrainSettings",
    "seeds_of",
]
