r"""The estimator :class:`NeuNcut` (:mod:`~neuncut_pyg.models.neuncut`), its encoders
(:mod:`~neuncut_pyg.models.encoders`: GCN, GraphSAGE, an MLP on propagated features, or a
custom module) and the scaling of the MLP's input (:mod:`~neuncut_pyg.models.input_scaling`)."""
from neuncut_pyg.models.encoders import (
    CustomEncoder,
    Encoder,
    EncoderInput,
    GCNEncoder,
    PropagatedMLPEncoder,
    SAGEEncoder,
)
from neuncut_pyg.models.neuncut import INIT_MODES, NeuNcut

__all__ = [
    "NeuNcut",
    "INIT_MODES",
    "Encoder",
    "EncoderInput",
    "GCNEncoder",
    "SAGEEncoder",
    "PropagatedMLPEncoder",
    "CustomEncoder",
]
