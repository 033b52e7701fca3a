"""Checkpoints written by earlier versions still load, and give the same memberships."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from neuncut_pyg.checkpoint import CHECKPOINT_FORMAT_VERSION, load_checkpoint, save_checkpoint
from neuncut_pyg.generators import planted_partition_graph

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints_v2"


@pytest.fixture(scope="module")
def graph():
    # The graph the format-2 fixtures were fitted on (neuncut-pyg 0.1.0).
    return planted_partition_graph(120, 3, 8.0, mixing=0.1, seed=0, num_features=6)


@pytest.mark.parametrize("encoder", ["gcn", "sage", "mlp"])
def test_format_2_checkpoints_load_and_predict_as_they_did(encoder, graph, tmp_path, one_torch_thread):
    model, config, node_ids = load_checkpoint(FIXTURES / encoder)
    assert model.encoder_name == encoder and len(node_ids) == 120
    expected = torch.load(FIXTURES / encoder / "expected_proba.pt", weights_only=True)
    torch.testing.assert_close(model.predict_proba(graph), expected, rtol=1e-5, atol=1e-6)
    # Saved again, it is a current-format checkpoint with the same memberships.
    save_checkpoint(tmp_path, model, config, node_ids)
    again, _, _ = load_checkpoint(tmp_path)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["format_version"] == CHECKPOINT_FORMAT_VERSION
    torch.testing.assert_close(again.predict_proba(graph), expected, rtol=1e-5, atol=1e-6)


def test_encoder_options_travel_with_the_checkpoint(graph, tmp_path, one_torch_thread):
    from neuncut_pyg import NeuNcut

    model = NeuNcut(6, 3, encoder="sage", hidden_channels=8, aggr="max").fit(graph, epochs=3, n_init=1, seed=0,
                                                                               progress=False)
    save_checkpoint(tmp_path, model, {}, [str(i) for i in range(120)])
    loaded, _, _ = load_checkpoint(tmp_path)
    assert loaded.encoder_kwargs == {"aggr": "max"}
    torch.testing.assert_close(loaded.predict_proba(graph), model.predict_proba(graph))
