from neuncut_pyg.loss import (
    DEFAULT_GAMMA,
    NcutLossOutput,
    NcutStatistics,
    RelaxedNcutLoss,
    dense_ncut_statistics,
    ncut_loss_from_statistics,
    ncut_statistics,
    relaxed_ncut_loss,
)

__version__ = "0.1.0"
