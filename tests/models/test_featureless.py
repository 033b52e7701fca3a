"""NeuNcut without node features (:mod:`neuncut_pyg.models.featureless`): the lazy ``-1``
sizing, the model's own input, inductive predictions on a grown graph, ``num_clusters="auto"``,
checkpoints, and the errors of bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from neuncut_pyg.checkpoint import load_checkpoint, save_checkpoint
from neuncut_pyg.generators import planted_partition_graph
from neuncut_pyg.metrics import nmi
from neuncut_pyg.models import NeuNcut
from neuncut_pyg.models.featureless import FeaturelessInput, id_gaussians, node_keys

pytestmark = [pytest.mark.filterwarnings("ignore:Sparse:UserWarning"), pytest.mark.usefixtures("one_torch_thread")]

QUICK = dict(epochs=80, lr=1e-2, n_init=1, progress=False)
SEEDS = (0, 1, 2)


def featureless(data: Data) -> Data:
    return Data(edge_index=data.edge_index, num_nodes=data.num_nodes)


@pytest.fixture(scope="module")
def grown():
    """A 240-node, 3-community graph without features, and the graph grown by three nodes, each
    tied to three nodes of one community (appended: the old nodes keep their ids)."""
    data = planted_partition_graph(240, 3, 10.0, mixing=0.15, seed=1, size_exponent=0.0, num_features=0)
    members = [[i for i in range(240) if data.y[i] == c][:3] for c in range(3)]
    new = torch.tensor([(240 + c, m) for c in range(3) for m in members[c]]).t()
    grown = Data(edge_index=torch.cat([data.edge_index, new, new.flip(0)], 1), num_nodes=243)
    return data, grown, members


def test_node_keys_and_gaussians_are_pure_functions_of_the_id():
    assert node_keys(torch.tensor([3, 7])).tolist() == [3, 7]
    strings = node_keys(["a", "b", "a"])
    assert strings[0] == strings[2] != strings[1]
    r = id_gaussians(np.array([5, 9, 5], dtype=np.uint64), 64, seed=0)
    assert np.array_equal(r[0], r[2]) and not np.array_equal(r[0], r[1])
    assert not np.array_equal(r[0], id_gaussians(np.array([5], dtype=np.uint64), 64, seed=1)[0])
    big = id_gaussians(np.arange(4000, dtype=np.uint64), 16)
    assert abs(big.mean()) < 0.05 and abs(big.std() - 1.0) < 0.05
    with pytest.raises(ValueError, match="integer"):
        node_keys(torch.zeros(3))


def test_featureless_input_is_white_on_the_training_graph_and_reused_on_a_grown_one(grown):
    data, bigger, _ = grown
    fi = FeaturelessInput(12, 6, shrinkage=0.0)
    x = fi.fit_transform(node_keys(torch.arange(240)), data.edge_index, 240)
    assert x.shape == (240, 6) and fi.out_channels == 6
    cov = torch.cov(x.T.double())
    torch.testing.assert_close(cov, torch.eye(6, dtype=torch.float64), atol=1e-4, rtol=0)
    again = fi(node_keys(torch.arange(240)), data.edge_index, 240)
    torch.testing.assert_close(again, x)  # the fitted transform, not a new one
    assert fi(node_keys(torch.arange(243)), bigger.edge_index, 243).shape == (243, 6)


def test_shrunk_whitening_keeps_large_directions_white_and_small_ones_small(grown):
    data, _, _ = grown
    keys = node_keys(torch.arange(240))
    plain = FeaturelessInput(12, 12, shrinkage=0.0)
    raw = plain._propagated(keys, data.edge_index, 240)
    values = torch.linalg.eigvalsh(torch.cov(raw.T))  # ascending
    shrunk = FeaturelessInput(12, 12, shrinkage=0.01)
    x = shrunk.fit_transform(keys, data.edge_index, 240).double()
    expected = values / (values + 0.01 * values.max())  # each direction's variance after shrinking
    torch.testing.assert_close(torch.linalg.eigvalsh(torch.cov(x.T)), expected, atol=1e-4, rtol=1e-3)
    assert expected[-1] > 0.98 and expected[0] < 0.05  # the top directions stay white, the smallest are not blown up
    with pytest.raises(ValueError, match="shrinkage"):
        FeaturelessInput(12, 6, shrinkage=-1.0)


def test_minus_one_sizes_the_encoder_at_fit(three_blocks):
    model = NeuNcut(-1, 3, hidden_channels=16)
    with pytest.raises(ValueError, match="call fit first"):
        model.predict(three_blocks)
    model.fit(three_blocks, **QUICK, seed=0)
    assert model.in_channels == three_blocks.num_features and model.featureless_input_ is None
    assert model.predict(three_blocks).shape == (three_blocks.num_nodes,)
    mlp = NeuNcut(-1, 3, encoder="mlp", hidden_channels=16).fit(three_blocks, **QUICK, seed=0)
    assert mlp.in_channels == three_blocks.num_features
    torch.testing.assert_close(mlp.predict(three_blocks), mlp.labels_)


def test_a_graph_without_features_fits_and_predicts_new_nodes(grown):
    data, bigger, members = grown
    for seed in SEEDS:
        model = NeuNcut(-1, 3, hidden_channels=32).fit(featureless(data), **QUICK, seed=seed)
        assert model.in_channels == model.featureless_input_.out_channels
        assert model.init_clustering_ is not None  # the graph's own spectral start
        assert nmi(data.y, model.labels_) > 0.85
        before = model.predict(featureless(data))
        torch.testing.assert_close(model.predict(featureless(data)), before)  # deterministic
        after = model.predict(bigger)
        assert (after[:240] == before).float().mean() > 0.95
        for c in range(3):  # a new node goes where the nodes it is tied to are
            assert after[240 + c] == torch.mode(before[members[c]]).values


def test_node_ids_key_the_input(grown):
    # Nodes listed in another order, with their ids: the same memberships, permuted.
    data, _, _ = grown
    model = NeuNcut(-1, 3, hidden_channels=32).fit(featureless(data), **QUICK, seed=0)
    perm = torch.randperm(240, generator=torch.Generator().manual_seed(0))
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(240)
    shuffled = Data(edge_index=inverse[data.edge_index], num_nodes=240, node_id=perm)
    torch.testing.assert_close(model.predict_proba(shuffled), model.predict_proba(featureless(data))[perm],
                               atol=1e-5, rtol=1e-4)


def test_a_featureless_model_survives_a_checkpoint(grown, tmp_path):
    data, bigger, _ = grown
    model = NeuNcut(-1, "auto", hidden_channels=32).fit(featureless(data), **QUICK, seed=0)
    save_checkpoint(tmp_path, model, {}, [str(i) for i in range(240)])
    loaded, _, _ = load_checkpoint(tmp_path)
    assert loaded.num_clusters_ == model.num_clusters_ and loaded.featureless_input_ is not None
    torch.testing.assert_close(loaded.predict_proba(bigger), model.predict_proba(bigger))


def test_auto_k_is_set_and_fitted(grown):
    data, _, _ = grown
    model = NeuNcut(-1, "auto", hidden_channels=32).fit(featureless(data), **QUICK, seed=0)
    assert model.num_clusters_ == 3 and model.predict_proba(featureless(data)).shape == (240, 3)
    bounded = NeuNcut(-1, "auto", k_min=5, k_max=8, hidden_channels=32).fit(featureless(data), **QUICK, seed=0)
    assert bounded.num_clusters_ == 5


def test_bad_input_fails_clearly(three_blocks, grown):
    data, _, _ = grown
    with pytest.raises(ValueError, match="neither x nor num_nodes"):
        NeuNcut(-1, 3).fit(Data(edge_index=data.edge_index))
    with pytest.raises(ValueError, match=r"NeuNcut\(-1, k\)"):
        NeuNcut(8, 3).fit(featureless(data))
    with pytest.raises(ValueError, match="k_min and k_max bound"):
        NeuNcut(-1, 3, k_max=5)
    with pytest.raises(ValueError, match="k_max must be"):
        NeuNcut(-1, "auto", k_min=6, k_max=4)
    with pytest.raises(ValueError, match="k_min must be"):
        NeuNcut(-1, "auto", k_min=1)
    with pytest.raises(ValueError, match="k_min=300"):
        NeuNcut(-1, "auto", k_min=300, k_max=400).fit(featureless(data), **QUICK)
    with pytest.raises(ValueError, match="'auto'"):
        NeuNcut(-1, "many")
    model = NeuNcut(-1, 3, hidden_channels=16).fit(featureless(data), **QUICK, seed=0)
    with pytest.raises(ValueError, match="without any"):
        model.predict(Data(x=torch.randn(240, model.in_channels), edge_index=data.edge_index))
