"""NeuNcut: shapes, training, recovery of planted blocks, encoders, input checks, determinism."""
from __future__ import annotations

import pytest
import torch
from sklearn.metrics import normalized_mutual_info_score
from torch_geometric.data import Data
from torch_geometric.nn.models import GCN, GraphSAGE
from torch_geometric.utils import stochastic_blockmodel_graph
from torch_sparse import SparseTensor

from neuncut_pyg.models import NeuNcut
from neuncut_pyg.adjacency import to_sparse_adjacency
from neuncut_pyg.fitting import TrainHistory, train_full_batch

pytestmark = [pytest.mark.filterwarnings("ignore:Sparse:UserWarning"), pytest.mark.usefixtures("one_torch_thread")]


def planted_partition(num_blocks: int = 3, block_size: int = 40, num_features: int = 8, seed: int = 0) -> Data:
    """A stochastic block model graph whose features are noisy block-dependent Gaussians."""
    torch.manual_seed(seed)
    probs = torch.full((num_blocks, num_blocks), 0.02)
    probs.fill_diagonal_(0.25)
    edge_index = stochastic_blockmodel_graph([block_size] * num_blocks, probs)
    y = torch.arange(num_blocks).repeat_interleave(block_size)
    means = 2.0 * torch.randn(num_blocks, num_features)
    x = means[y] + torch.randn(y.numel(), num_features)
    return Data(x=x, edge_index=edge_index, y=y)




@pytest.fixture(scope="module")
def blocks() -> Data:
    return planted_partition()


def quick_fit(model: NeuNcut, data: Data, epochs: int = 150, seed: int = 0, n_init: int = 1,
              init: str = "auto") -> NeuNcut:
    return model.fit(data, epochs=epochs, lr=1e-2, progress=False, seed=seed, n_init=n_init, init=init)


def test_forward_shapes_and_rows_sum_to_one(blocks):
    model = NeuNcut(8, 3, hidden_channels=16)
    s = model(blocks.x, blocks.edge_index)
    assert s.shape == (blocks.num_nodes, 3)
    assert torch.all(s >= 0)
    assert torch.allclose(s.sum(-1), torch.ones(blocks.num_nodes), atol=1e-5)
    assert model.logits(blocks.x, blocks.edge_index).shape == (blocks.num_nodes, 3)


def test_forward_accepts_every_adj_form(blocks):
    model = NeuNcut(8, 3, hidden_channels=16).eval()
    n = blocks.num_nodes
    ref = model(blocks.x, blocks.edge_index)
    adj_t = SparseTensor(row=blocks.edge_index[1], col=blocks.edge_index[0], sparse_sizes=(n, n))
    assert torch.allclose(model(blocks.x, adj_t), ref, atol=1e-5)
    ones = torch.ones(blocks.edge_index.size(1))
    assert torch.allclose(model(blocks.x, blocks.edge_index, ones), ref, atol=1e-5)


def test_fit_returns_self_records_history_and_lowers_the_loss(blocks):
    model = NeuNcut(8, 3, hidden_channels=16)
    # From random parameters (the spectral start would begin near the minimum already).
    assert quick_fit(model, blocks, epochs=60, init="random") is model
    history = model.loss_history_
    assert isinstance(history, TrainHistory) and len(history) == 60
    assert len(history.cut) == len(history.orth) == 60
    assert history.loss[-1] < 0.5 * history.loss[0]
    for loss, cut, orth in zip(history.loss, history.cut, history.orth):
        assert loss == pytest.approx(cut + model.gamma_ / 2 * orth, rel=1e-4)
    assert set(history.as_dict()) == {"loss", "cut", "orth"}


def test_predict_recovers_planted_blocks(blocks):
    # A single run can stall with two blocks merged (an empty cluster); n_init=3 keeps the run of
    # lowest loss, which is the planted partition (NMI 1.0 over seeds 0-3, measured).
    model = quick_fit(NeuNcut(8, 3, hidden_channels=32), blocks, n_init=3)
    assert len(model.init_objectives_) == 3 and model.objective_ == min(model.init_objectives_)
    labels = model.predict(blocks)
    assert labels.dtype == torch.long and labels.shape == (blocks.num_nodes,)
    assert normalized_mutual_info_score(blocks.y.numpy(), labels.numpy()) > 0.9
    proba = model.predict_proba(blocks)
    assert not proba.requires_grad
    assert torch.equal(proba.argmax(-1), labels)


def test_predict_generalizes_to_a_new_graph_of_the_same_model():
    train, unseen = planted_partition(seed=0), planted_partition(seed=0)
    # Same block means (same seed), new edges and noise for the unseen graph.
    torch.manual_seed(1)
    unseen.x = unseen.x + 0.1 * torch.randn_like(unseen.x)
    model = quick_fit(NeuNcut(8, 3, hidden_channels=32), train, n_init=3)
    nmi = normalized_mutual_info_score(unseen.y.numpy(), model.predict(unseen).numpy())
    assert nmi > 0.9


def test_sage_encoder(blocks):
    model = quick_fit(NeuNcut(8, 3, encoder="sage", hidden_channels=32), blocks, n_init=3)
    assert isinstance(model.encoder.net, GraphSAGE)
    assert normalized_mutual_info_score(blocks.y.numpy(), model.predict(blocks).numpy()) > 0.9


def test_custom_encoder_returning_logits(blocks):
    encoder = GCN(8, 32, num_layers=2, out_channels=3)
    model = NeuNcut(8, 3, encoder=encoder)
    assert model.head is None and model.encoder.net is encoder
    quick_fit(model, blocks, n_init=3)
    assert normalized_mutual_info_score(blocks.y.numpy(), model.predict(blocks).numpy()) > 0.9
    assert "GCN" in repr(model)


class EdgeIndexOnly(torch.nn.Module):
    """A user module that indexes edge_index itself, so it must receive a [2, E] tensor."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(in_channels, out_channels)

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()

    def forward(self, x, edge_index):
        assert isinstance(edge_index, torch.Tensor) and edge_index.size(0) == 2
        h = self.lin(x)
        return h + torch.zeros_like(h).index_add_(0, edge_index[1], h[edge_index[0]])


def test_custom_encoder_with_linear_head(blocks):
    model = NeuNcut(8, 3, encoder=EdgeIndexOnly(8, 16), encoder_out_channels=16)
    assert model.head is not None and model.head.in_features == 16
    quick_fit(model, blocks)
    assert model.predict(blocks).shape == (blocks.num_nodes,)


def test_custom_encoder_with_wrong_output_width(blocks):
    model = NeuNcut(8, 3, encoder=EdgeIndexOnly(8, 5))
    with pytest.raises(ValueError, match=r"logits of shape \[120, 3\]"):
        model(blocks.x, blocks.edge_index)


def test_weighted_graph_and_adj_t(blocks):
    weighted = blocks.clone()
    weighted.edge_weight = torch.rand(blocks.edge_index.size(1)) + 0.5
    model = quick_fit(NeuNcut(8, 3, hidden_channels=16), weighted, epochs=20)
    assert model.predict(weighted).shape == (blocks.num_nodes,)

    n = blocks.num_nodes
    sparse = Data(x=blocks.x, adj_t=SparseTensor(row=blocks.edge_index[1], col=blocks.edge_index[0], sparse_sizes=(n, n)))
    dense = quick_fit(NeuNcut(8, 3, hidden_channels=16), blocks, epochs=20, seed=3)
    via_adj_t = quick_fit(NeuNcut(8, 3, hidden_channels=16), sparse, epochs=20, seed=3)
    assert via_adj_t.loss_history_.loss == pytest.approx(dense.loss_history_.loss, rel=1e-4)


def test_seed_makes_fit_deterministic_and_leaves_global_rng_alone(blocks):
    model = NeuNcut(8, 3, hidden_channels=16)  # construction draws initial weights: not part of fit
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = quick_fit(model, blocks, epochs=30, seed=7)
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = quick_fit(NeuNcut(8, 3, hidden_channels=16), blocks, epochs=30, seed=7)
    assert a.loss_history_.loss == b.loss_history_.loss
    assert torch.equal(a.predict_proba(blocks), b.predict_proba(blocks))
    c = quick_fit(NeuNcut(8, 3, hidden_channels=16), blocks, epochs=30, seed=8)
    assert c.loss_history_.loss != a.loss_history_.loss


def test_n_init_keeps_the_lowest_loss_run(blocks):
    model = quick_fit(NeuNcut(8, 3, hidden_channels=16), blocks, epochs=40, seed=2, n_init=3)
    objectives = model.init_objectives_
    assert model.objective_ == min(objectives)
    # The kept parameters are those of the best run: re-scoring them gives its objective.
    from neuncut_pyg.loss import relaxed_ncut_loss
    score = relaxed_ncut_loss(model.predict_proba(blocks), blocks.edge_index, gamma=model.gamma_).loss
    assert float(score) == pytest.approx(model.objective_, rel=1e-4)
    with pytest.raises(ValueError, match="warm_start=True continues one run"):
        model.fit(blocks, epochs=1, progress=False, n_init=2, warm_start=True)


def test_fit_reinitializes_unless_warm_start(blocks):
    model = quick_fit(NeuNcut(8, 3, hidden_channels=16), blocks, epochs=40)
    trained_loss = model.loss_history_.loss[-1]
    model.fit(blocks, epochs=1, lr=1e-2, progress=False, seed=0)
    assert model.loss_history_.loss[0] > trained_loss  # started over
    model.fit(blocks, epochs=1, lr=1e-2, progress=False, seed=0)
    fresh_start = model.loss_history_.loss[0]
    quick_fit(model, blocks, epochs=40)
    model.fit(blocks, epochs=1, lr=1e-2, progress=False, n_init=1, warm_start=True)
    assert model.loss_history_.loss[0] < fresh_start


def test_reset_parameters_and_repr(blocks):
    model = NeuNcut(8, 3, hidden_channels=16)
    before = [p.detach().clone() for p in model.parameters()]
    model.reset_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert repr(model) == "NeuNcut(8, num_clusters=3, encoder=GCN, hidden_channels=16, num_layers=1, gamma=auto)"
    assert "SAGE" in repr(NeuNcut(8, 3, encoder="sage"))


def test_sparse_features_give_the_same_memberships():
    data = planted_partition()
    data.x = (data.x > 1.5).float()  # sparse, bag-of-words-like: the CSR fast path
    assert float((data.x != 0).float().mean()) < 0.3
    model = NeuNcut(8, 3, hidden_channels=16).eval()
    dense_s = model(data.x, data.edge_index)
    torch.testing.assert_close(model.predict_proba(data), dense_s, atol=1e-5, rtol=1e-4)


def test_progress_bar(blocks, capsys):
    NeuNcut(8, 3, hidden_channels=8).fit(blocks, epochs=3, progress=True)
    assert "NeuNcut" in capsys.readouterr().err
    NeuNcut(8, 3, hidden_channels=8).fit(blocks, epochs=3, progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_clusters=1), "num_clusters must be an integer >= 2"),
        (dict(num_clusters=2.5), "num_clusters must be an integer >= 2"),
        (dict(in_channels=0), "in_channels must be a positive integer"),
        (dict(hidden_channels=0), "hidden_channels must be a positive integer"),
        (dict(num_layers=0), "num_layers must be a positive integer"),
        (dict(dropout=1.0), "dropout must be a probability"),
        (dict(gamma=-1.0), "gamma"),
        (dict(gamma=float("nan")), "gamma"),
        (dict(encoder="gat"), "encoder must be one of"),
        (dict(encoder_out_channels=4), "encoder_out_channels is for a custom encoder"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    args = dict(in_channels=8, num_clusters=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        NeuNcut(**args)


def test_bad_data(blocks):
    model = NeuNcut(8, 3, hidden_channels=8)
    with pytest.raises(ValueError, match="num_clusters=3 clusters cannot be formed from a graph of 2 nodes"):
        model.fit(Data(x=torch.randn(2, 8), edge_index=torch.tensor([[0, 1], [1, 0]])), progress=False)
    with pytest.raises(ValueError, match=r"x has 5 features per node but the model was built with in_channels=8"):
        model.fit(Data(x=torch.randn(120, 5), edge_index=blocks.edge_index), progress=False)
    with pytest.raises(ValueError, match="data has no node features"):
        model.fit(Data(edge_index=blocks.edge_index, num_nodes=120), progress=False)
    with pytest.raises(ValueError, match="data has no node features"):
        model.predict(Data(edge_index=blocks.edge_index, num_nodes=120))
    with pytest.raises(ValueError, match="NaN or infinite"):
        bad = blocks.x.clone()
        bad[0, 0] = float("nan")
        model.fit(Data(x=bad, edge_index=blocks.edge_index), progress=False)
    with pytest.raises(ValueError, match="edge_index holds node indices"):
        model.fit(Data(x=blocks.x, edge_index=torch.tensor([[0, 500], [500, 0]])), progress=False)
    with pytest.raises(ValueError, match="edge_weight must be non-negative"):
        model.fit(Data(x=blocks.x, edge_index=blocks.edge_index, edge_weight=-torch.ones(blocks.edge_index.size(1))),
                  progress=False)
    with pytest.raises(ValueError, match="neither edge_index nor adj_t"):
        model.fit(Data(x=blocks.x), progress=False)
    with pytest.raises(TypeError, match="Data graph"):
        model.fit(blocks.x, progress=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(epochs=0), "epochs must be a positive integer"), (dict(lr=0.0), "lr must be"),
     (dict(lr=float("inf")), "lr must be"), (dict(weight_decay=-1.0), "weight_decay"),
     (dict(seed=-1), "seed must be"), (dict(n_init=0), "n_init must be")],
)
def test_bad_training_settings(blocks, kwargs, match):
    with pytest.raises(ValueError, match=match):
        NeuNcut(8, 3, hidden_channels=8).fit(blocks, progress=False, **kwargs)


def test_train_full_batch_directly(blocks):
    adj = to_sparse_adjacency(blocks.edge_index, num_nodes=blocks.num_nodes)
    model = torch.nn.Sequential(torch.nn.Linear(8, 3), torch.nn.Softmax(-1))

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, x, edge_index):
            return self.net(x)

    wrapped = Wrapped()
    history = train_full_batch(wrapped, lambda: wrapped(blocks.x, None), adj, epochs=5, lr=1e-2, gamma=10.0,
                               progress=False)
    assert len(history) == 5
    with pytest.raises(TypeError, match="SparseTensor"):
        train_full_batch(wrapped, lambda: wrapped(blocks.x, None), blocks.edge_index, epochs=5, lr=1e-2,
                         progress=False)


def test_diverging_training_raises_instead_of_returning_nan(blocks):
    class Exploding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(1.0))

        def forward(self, x, edge_index):
            return (x[:, :3] * self.scale * float("inf")).softmax(-1)

    adj = to_sparse_adjacency(blocks.edge_index, num_nodes=blocks.num_nodes)
    exploding = Exploding()
    with pytest.raises(ValueError, match="NaN or infinite"):
        train_full_batch(exploding, lambda: exploding(blocks.x, None), adj, epochs=2, lr=1e-2, progress=False)
