"""The input of NeuNcut(encoder="mlp") (:mod:`neuncut_pyg.models.input_scaling`): its propagation
depth ("auto": the spectral start's), the row normalization and standardization fitted to the
training graph, kept with the parameters and applied unchanged to new graphs."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import subgraph

from neuncut_pyg import NeuNcut
from neuncut_pyg.checkpoint import load_checkpoint, save_checkpoint
from neuncut_pyg.generators import planted_partition_graph
from neuncut_pyg.models import encoders
from neuncut_pyg.models.encoders import EncoderInput
from neuncut_pyg.models.graph import Graph
from neuncut_pyg.propagation import propagate_features

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def expected_input(model: NeuNcut, data: Data) -> torch.Tensor:
    """The documented transform, written out: K steps, unit rows, then (h - shift) / scale."""
    h = propagate_features(data.x, data.edge_index, steps=model.propagation_steps_).double()
    h = h / h.norm(dim=1, keepdim=True).clamp_min(1e-300)
    scaling = model.encoder.input_scaling
    return ((h - scaling.shift) / scaling.scale).float()


def test_auto_depth_is_the_starts_and_its_features_are_reused(four_communities, monkeypatch):
    calls = []
    original = encoders.propagate_features

    def spy(*args, **kwargs):
        calls.append(kwargs.get("steps"))
        return original(*args, **kwargs)

    monkeypatch.setattr(encoders, "propagate_features", spy)
    model = NeuNcut(16, 4, encoder="mlp").fit(four_communities, epochs=5, n_init=1, seed=0, progress=False)
    assert model.propagation_steps == "auto"
    assert model.init_ == "spectral" and model.propagation_steps_ == model.init_clustering_.steps
    assert calls == []  # the start's smoothed features were the input: no second propagation
    assert "propagation_steps='auto'" in repr(model)


def test_auto_depth_without_a_start_and_a_fixed_depth(four_communities):
    random_start = NeuNcut(16, 4, encoder="mlp").fit(four_communities, epochs=2, n_init=1, seed=0, init="random",
                                                      progress=False)
    assert random_start.init_clustering_ is None and random_start.propagation_steps_ == 2
    fixed = NeuNcut(16, 4, encoder="mlp", propagation_steps=5).fit(four_communities, epochs=2, n_init=1, seed=0,
                                                                    progress=False)
    assert fixed.propagation_steps == 5 and fixed.propagation_steps_ == 5
    assert NeuNcut(16, 4, encoder="mlp").propagation_steps_ == 2  # before any fit
    with pytest.raises(AttributeError, match="propagation_steps_"):
        NeuNcut(16, 4, encoder="gcn").propagation_steps_


def test_input_is_standardized_on_the_training_graph(four_communities):
    model = NeuNcut(16, 4, encoder="mlp").fit(four_communities, epochs=2, n_init=1, seed=0, progress=False)
    with torch.no_grad():
        h = model.encoder.node_features(Graph(four_communities.x, four_communities.edge_index))
    assert torch.allclose(h.mean(0), torch.zeros(16), atol=1e-5)
    assert torch.allclose(h.std(0), torch.ones(16), atol=1e-4)
    assert torch.allclose(h, expected_input(model, four_communities), atol=1e-4)


def test_new_graphs_get_the_training_statistics_not_their_own(four_communities):
    model = NeuNcut(16, 4, encoder="mlp", dropout=0.0).fit(four_communities, epochs=20, lr=1e-2, n_init=1, seed=0,
                                                            progress=False)
    shift, scale, steps = model.encoder.input_scaling.shift.clone(), model.encoder.input_scaling.scale.clone(), model.propagation_steps_
    keep = torch.arange(0, 600, 2)
    edge_index, _ = subgraph(keep, four_communities.edge_index, relabel_nodes=True, num_nodes=600)
    half = Data(x=four_communities.x[keep], edge_index=edge_index, num_nodes=keep.numel())
    s = model.predict_proba(half)
    assert torch.equal(model.encoder.input_scaling.shift, shift) and torch.equal(model.encoder.input_scaling.scale, scale)
    assert model.propagation_steps_ == steps
    with torch.no_grad():
        expected = model._logits(EncoderInput(expected_input(model, half))).softmax(-1)
    assert torch.allclose(s, expected, atol=1e-4)
    # Batched inference maps the same rows.
    assert torch.allclose(model.predict_proba(half, batch_size=64), s, atol=1e-6)


def test_zero_steps_leave_the_users_features_alone(four_communities):
    x = four_communities.x.clone()
    data = Data(x=x, edge_index=four_communities.edge_index)
    model = NeuNcut(16, 4, encoder="mlp", propagation_steps=0).fit(data, epochs=2, n_init=1, seed=0,
                                                                    progress=False)
    model.predict(data)
    assert torch.equal(x, four_communities.x)


def test_warm_start_keeps_the_fitted_input(four_communities):
    model = NeuNcut(16, 4, encoder="mlp").fit(four_communities, epochs=2, n_init=1, seed=0, progress=False)
    shift, steps = model.encoder.input_scaling.shift.clone(), model.propagation_steps_
    other = planted_partition_graph(600, 4, 12, mixing=0.3, num_features=16, feature_noise=2.0, seed=9)
    model.fit(other, epochs=2, n_init=1, seed=0, warm_start=True, progress=False)
    assert torch.equal(model.encoder.input_scaling.shift, shift) and model.propagation_steps_ == steps


def test_checkpoint_keeps_depth_and_standardization(four_communities, tmp_path):
    model = NeuNcut(16, 4, encoder="mlp").fit(four_communities, epochs=5, n_init=1, seed=0, progress=False)
    save_checkpoint(tmp_path / "ck", model, {}, [str(i) for i in range(600)])
    loaded, _, _ = load_checkpoint(tmp_path / "ck")
    assert loaded.propagation_steps == "auto" and loaded.propagation_steps_ == model.propagation_steps_
    assert torch.equal(loaded.encoder.input_scaling.scale, model.encoder.input_scaling.scale)
    assert torch.allclose(loaded.predict_proba(four_communities), model.predict_proba(four_communities))


@pytest.mark.parametrize("steps", ["deep", -1, 2.5, True])
def test_bad_propagation_steps(steps):
    with pytest.raises(ValueError, match="propagation_steps"):
        NeuNcut(16, 4, encoder="mlp", propagation_steps=steps)
