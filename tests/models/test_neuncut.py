"""NeuNcut, the estimator (:mod:`neuncut_pyg.models.neuncut`): shapes, training, recovery of
planted blocks, new graphs, the start it picks, input checks, determinism."""
from __future__ import annotations

import pytest
import torch
from sklearn.metrics import normalized_mutual_info_score
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected
from torch_sparse import SparseTensor

from neuncut_pyg.fitting import TrainHistory
from neuncut_pyg.models import NeuNcut
from neuncut_pyg.start import SmoothedFeatureClustering, smoothed

pytestmark = [pytest.mark.filterwarnings("ignore:Sparse:UserWarning"), pytest.mark.usefixtures("one_torch_thread")]


def quick_fit(model: NeuNcut, data: Data, epochs: int = 150, seed: int = 0, n_init: int = 1,
              init: str = "auto") -> NeuNcut:
    return model.fit(data, epochs=epochs, lr=1e-2, progress=False, seed=seed, n_init=n_init, init=init)


def test_forward_shapes_and_rows_sum_to_one(three_blocks):
    model = NeuNcut(8, 3, hidden_channels=16)
    s = model(three_blocks.x, three_blocks.edge_index)
    assert s.shape == (three_blocks.num_nodes, 3)
    assert torch.all(s >= 0)
    assert torch.allclose(s.sum(-1), torch.ones(three_blocks.num_nodes), atol=1e-5)
    assert model.logits(three_blocks.x, three_blocks.edge_index).shape == (three_blocks.num_nodes, 3)


def test_forward_accepts_every_adj_form(three_blocks):
    model = NeuNcut(8, 3, hidden_channels=16).eval()
    n = three_blocks.num_nodes
    ref = model(three_blocks.x, three_blocks.edge_index)
    adj_t = SparseTensor(row=three_blocks.edge_index[1], col=three_blocks.edge_index[0], sparse_sizes=(n, n))
    assert torch.allclose(model(three_blocks.x, adj_t), ref, atol=1e-5)
    ones = torch.ones(three_blocks.edge_index.size(1))
    assert torch.allclose(model(three_blocks.x, three_blocks.edge_index, ones), ref, atol=1e-5)


def test_fit_returns_self_records_history_and_lowers_the_loss(three_blocks):
    model = NeuNcut(8, 3, hidden_channels=16)
    # From random parameters (the spectral start would begin near the minimum already).
    assert quick_fit(model, three_blocks, epochs=60, init="random") is model
    history = model.loss_history_
    assert isinstance(history, TrainHistory) and len(history) == 60
    assert len(history.cut) == len(history.orth) == 60
    assert history.loss[-1] < 0.5 * history.loss[0]
    for loss, cut, orth in zip(history.loss, history.cut, history.orth):
        assert loss == pytest.approx(cut + model.gamma_ / 2 * orth, rel=1e-4)
    assert set(history.as_dict()) == {"loss", "cut", "orth", "seconds"} and min(history.seconds) > 0


# From random parameters, so that training alone must find the blocks: the spectral start by
# itself already gives NMI 1.0 on this graph (seeds 0-7), an untrained GCN 0.47-0.73. A single
# run can stall with two blocks merged (seed 2 of 0-7: NMI 0.734); n_init=3 keeps the run of
# lowest loss. Measured, n_init=3, 150 epochs, seeds 0-7: NMI 1.000 on every seed.
RANDOM_START_SEEDS = (0, 1, 2)


@pytest.mark.parametrize("seed", RANDOM_START_SEEDS)
def test_training_from_random_parameters_recovers_planted_blocks(three_blocks, seed):
    model = quick_fit(NeuNcut(8, 3, hidden_channels=32), three_blocks, n_init=3, seed=seed, init="random")
    assert model.init_ == "random" and model.init_clustering_ is None
    assert len(model.init_objectives_) == 3 and model.objective_ == min(model.init_objectives_)
    labels = model.predict(three_blocks)
    assert labels.dtype == torch.long and labels.shape == (three_blocks.num_nodes,)
    assert normalized_mutual_info_score(three_blocks.y.numpy(), labels.numpy()) > 0.9
    proba = model.predict_proba(three_blocks)
    assert not proba.requires_grad
    assert torch.equal(proba.argmax(-1), labels)


def same_model_graph(block_size: int, seed: int) -> Data:
    """A graph of one fixed stochastic block model (3 blocks, p_in 0.25, p_out 0.02, block means
    drawn once): each seed gives new nodes, edges and feature noise, the global RNG untouched."""
    means = 2.0 * torch.randn(3, 8, generator=torch.Generator().manual_seed(100))
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(3).repeat_interleave(block_size)
    n = y.numel()
    upper = (torch.rand(n, n, generator=g) < torch.where(y[:, None] == y[None, :], 0.25, 0.02)).triu(1)
    return Data(x=means[y] + torch.randn(n, 8, generator=g), edge_index=to_undirected(upper.nonzero().t(), num_nodes=n),
                y=y)


# Trained on one graph from random parameters, assigning a new graph of the same model by a
# forward pass (no start, no training on it). Measured, seeds 0-7 (n_init=3, 150 epochs): NMI
# 1.000 on the training graph and 1.000 on the new one for every seed; untrained networks
# (torch seeds 0-7) score 0.43-0.73 on the new graph.
GENERALIZATION_SEEDS = (0, 1, 2)


@pytest.mark.parametrize("seed", GENERALIZATION_SEEDS)
def test_predict_generalizes_to_a_new_graph_of_the_same_model(seed):
    train, unseen = same_model_graph(40, seed=0), same_model_graph(50, seed=1)
    assert unseen.num_nodes == 150 and train.num_nodes == 120  # new nodes, and with them new edges
    model = quick_fit(NeuNcut(8, 3, hidden_channels=32), train, n_init=3, seed=seed, init="random")
    nmi = normalized_mutual_info_score(unseen.y.numpy(), model.predict(unseen).numpy())
    assert nmi > 0.9
    # The untrained network does not: the assignment is what training learned.
    torch.manual_seed(seed)
    untrained = NeuNcut(8, 3, hidden_channels=32).eval()
    assert normalized_mutual_info_score(unseen.y.numpy(), untrained.predict(unseen).numpy()) < 0.8


def test_weighted_graph_and_adj_t(three_blocks):
    weighted = three_blocks.clone()
    weighted.edge_weight = torch.rand(three_blocks.edge_index.size(1)) + 0.5
    model = quick_fit(NeuNcut(8, 3, hidden_channels=16), weighted, epochs=20)
    assert model.predict(weighted).shape == (three_blocks.num_nodes,)

    n = three_blocks.num_nodes
    sparse = Data(x=three_blocks.x, adj_t=SparseTensor(row=three_blocks.edge_index[1], col=three_blocks.edge_index[0], sparse_sizes=(n, n)))
    dense = quick_fit(NeuNcut(8, 3, hidden_channels=16), three_blocks, epochs=20, seed=3)
    via_adj_t = quick_fit(NeuNcut(8, 3, hidden_channels=16), sparse, epochs=20, seed=3)
    assert via_adj_t.loss_history_.loss == pytest.approx(dense.loss_history_.loss, rel=1e-4)


def test_seed_makes_fit_deterministic_and_leaves_global_rng_alone(three_blocks):
    model = NeuNcut(8, 3, hidden_channels=16)  # construction draws initial weights: not part of fit
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = quick_fit(model, three_blocks, epochs=30, seed=7)
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = quick_fit(NeuNcut(8, 3, hidden_channels=16), three_blocks, epochs=30, seed=7)
    assert a.loss_history_.loss == b.loss_history_.loss
    assert torch.equal(a.predict_proba(three_blocks), b.predict_proba(three_blocks))
    c = quick_fit(NeuNcut(8, 3, hidden_channels=16), three_blocks, epochs=30, seed=8)
    assert c.loss_history_.loss != a.loss_history_.loss


def test_reset_parameters_and_repr(three_blocks):
    model = NeuNcut(8, 3, hidden_channels=16)
    before = [p.detach().clone() for p in model.parameters()]
    model.reset_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert repr(model) == "NeuNcut(8, num_clusters=3, encoder=GCN, hidden_channels=16, num_layers=1, gamma=auto)"
    assert "SAGE" in repr(NeuNcut(8, 3, encoder="sage"))


def test_progress_bar(three_blocks, capsys):
    NeuNcut(8, 3, hidden_channels=8).fit(three_blocks, epochs=3, progress=True)
    assert "NeuNcut" in capsys.readouterr().err
    NeuNcut(8, 3, hidden_channels=8).fit(three_blocks, epochs=3, progress=False)
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


def test_bad_data(three_blocks):
    model = NeuNcut(8, 3, hidden_channels=8)
    with pytest.raises(ValueError, match="num_clusters=3 clusters cannot be formed from a graph of 2 nodes"):
        model.fit(Data(x=torch.randn(2, 8), edge_index=torch.tensor([[0, 1], [1, 0]])), progress=False)
    with pytest.raises(ValueError, match=r"x has 5 features per node but the model was built with in_channels=8"):
        model.fit(Data(x=torch.randn(120, 5), edge_index=three_blocks.edge_index), progress=False)
    with pytest.raises(ValueError, match="data has no node features"):
        model.fit(Data(edge_index=three_blocks.edge_index, num_nodes=120), progress=False)
    with pytest.raises(ValueError, match="data has no node features"):
        model.predict(Data(edge_index=three_blocks.edge_index, num_nodes=120))
    with pytest.raises(ValueError, match="NaN or infinite"):
        bad = three_blocks.x.clone()
        bad[0, 0] = float("nan")
        model.fit(Data(x=bad, edge_index=three_blocks.edge_index), progress=False)
    with pytest.raises(ValueError, match="edge_index holds node indices"):
        model.fit(Data(x=three_blocks.x, edge_index=torch.tensor([[0, 500], [500, 0]])), progress=False)
    with pytest.raises(ValueError, match="edge_weight must be non-negative"):
        model.fit(Data(x=three_blocks.x, edge_index=three_blocks.edge_index, edge_weight=-torch.ones(three_blocks.edge_index.size(1))),
                  progress=False)
    with pytest.raises(ValueError, match="neither edge_index nor adj_t"):
        model.fit(Data(x=three_blocks.x), progress=False)
    with pytest.raises(TypeError, match="Data graph"):
        model.fit(three_blocks.x, progress=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(epochs=0), "epochs must be a positive integer"), (dict(lr=0.0), "lr must be"),
     (dict(lr=float("inf")), "lr must be"), (dict(weight_decay=-1.0), "weight_decay"),
     (dict(seed=-1), "seed must be"), (dict(n_init=0), "n_init must be")],
)
def test_bad_training_settings(three_blocks, kwargs, match):
    with pytest.raises(ValueError, match=match):
        NeuNcut(8, 3, hidden_channels=8).fit(three_blocks, progress=False, **kwargs)


@pytest.mark.parametrize("mode", ["full batch", "mini-batch", "mini-batch gcn"])
def test_fit_predict_labels_are_what_predict_gives(four_blocks, mode):
    encoder = "gcn" if mode == "mini-batch gcn" else "mlp"
    batch = None if mode == "full batch" else 64
    model = NeuNcut(8, 4, encoder=encoder)
    labels = model.fit_predict(four_blocks, epochs=3, lr=1e-2, n_init=2, seed=0, batch_size=batch, progress=False)
    assert labels is model.labels_ and labels.shape == (four_blocks.num_nodes,) and labels.dtype == torch.long
    assert torch.equal(labels, model.predict(four_blocks, batch_size=batch))
    assert torch.equal(labels, model.predict(four_blocks))


def test_fit_auto_starts_spectral_unless_it_continues_a_run(six_communities):
    model = NeuNcut(six_communities.num_features, 6).fit(six_communities, epochs=5, n_init=1, seed=0, progress=False)
    assert model.init_ == "spectral" and isinstance(model.init_clustering_, SmoothedFeatureClustering)
    model.fit(six_communities, epochs=1, n_init=1, seed=0, batch_size=400, progress=False)
    assert model.init_ == "spectral" and isinstance(model.init_clustering_, SmoothedFeatureClustering)
    model.fit(six_communities, epochs=1, n_init=1, seed=0, warm_start=True, progress=False)
    assert model.init_ == "random" and model.init_clustering_ is None


def test_fit_start_reads_the_fits_own_sparse_graph(six_communities, monkeypatch):
    # One SparseTensor per fit: the start must not build a second copy of the graph (GBs at
    # ogbn-products size). The weights travel inside it.
    from torch_sparse import SparseTensor

    from neuncut_pyg.models import graph as graph_module

    built, seen = [], []
    original_build, original_start = graph_module.to_sparse_adjacency, smoothed.smoothed_feature_clustering

    def count_builds(*args, **kwargs):
        adj = original_build(*args, **kwargs)
        built.append(adj)
        return adj

    def spy(x, graph, k, **kwargs):
        seen.append((graph, kwargs.get("edge_weight")))
        return original_start(x, graph, k, **kwargs)

    monkeypatch.setattr(graph_module, "to_sparse_adjacency", count_builds)
    monkeypatch.setattr(smoothed, "smoothed_feature_clustering", spy)
    weight = torch.rand(six_communities.edge_index.size(1)) + 0.5
    data = six_communities.clone()
    data.edge_weight = weight
    NeuNcut(six_communities.num_features, 6).fit(data, epochs=2, n_init=1, seed=0, init="spectral", progress=False)
    (graph, edge_weight), = seen
    assert isinstance(graph, SparseTensor) and edge_weight is None
    assert any(graph is adj for adj in built)
    weighted_degree = torch.zeros(six_communities.num_nodes).index_add_(0, six_communities.edge_index[0], weight)
    torch.testing.assert_close(graph.sum(dim=1).to(torch.float32), weighted_degree)  # weights kept


@pytest.mark.parametrize("kwargs, match", [
    (dict(init="kmeans"), "init must be one of"),
    (dict(init="spectral", warm_start=True, n_init=1), "warm_start"),
])
def test_fit_rejects_bad_init(six_communities, kwargs, match):
    with pytest.raises(ValueError, match=match):
        NeuNcut(six_communities.num_features, 6).fit(six_communities, epochs=1, progress=False, **kwargs)


def test_resolve_init():
    from neuncut_pyg.models.neuncut import _resolve_init

    assert _resolve_init("auto", warm_start=False) == "spectral"
    assert _resolve_init("auto", warm_start=True) == _resolve_init("random", warm_start=True) == "random"
    with pytest.raises(ValueError, match="warm_start"):
        _resolve_init("spectral", warm_start=True)
