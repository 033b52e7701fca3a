"""The encoders of NeuNcut (:mod:`neuncut_pyg.models.encoders`): GCN, GraphSAGE, the MLP and
custom modules, full graphs against batches, and the sparse-feature path."""
from __future__ import annotations

import pytest
import torch
from sklearn.metrics import normalized_mutual_info_score
from torch_geometric.data import Data
from torch_geometric.nn.models import GCN, GraphSAGE
from torch_geometric.utils import to_undirected

from neuncut_pyg.loss import relaxed_ncut_loss
from neuncut_pyg.models import NeuNcut, encoders

pytestmark = [pytest.mark.filterwarnings("ignore:Sparse:UserWarning"), pytest.mark.usefixtures("one_torch_thread")]


def quick_fit(model: NeuNcut, data: Data, epochs: int = 150, seed: int = 0, n_init: int = 1,
              init: str = "auto") -> NeuNcut:
    return model.fit(data, epochs=epochs, lr=1e-2, progress=False, seed=seed, n_init=n_init, init=init)


ENCODERS = [
    dict(encoder="gcn", num_layers=1),
    dict(encoder="gcn", num_layers=2),
    dict(encoder="gcn", num_layers=2, improved=True),
    dict(encoder="gcn", num_layers=1, add_self_loops=False),
    dict(encoder="gcn", num_layers=1, normalize=False),
    dict(encoder="sage", num_layers=2),
    dict(encoder="mlp", num_layers=2),
    dict(encoder="mlp", num_layers=1, propagation_steps=0),
]


@pytest.fixture(scope="module")
def weighted_with_loops(four_blocks) -> Data:
    # Weighted, symmetric, with some self-loops: every special case of the normalization at once.
    n = four_blocks.num_nodes
    weight = torch.rand(four_blocks.edge_index.size(1), generator=torch.Generator().manual_seed(3)) + 0.1
    loops = torch.arange(0, n, 7)
    edge_index = torch.cat([four_blocks.edge_index, loops.repeat(2, 1)], dim=1)
    weight = torch.cat([weight, torch.full((loops.numel(),), 0.5)])
    edge_index, weight = to_undirected(edge_index, weight, num_nodes=n, reduce="max")
    return Data(x=four_blocks.x, edge_index=edge_index, edge_weight=weight, y=four_blocks.y)


@pytest.mark.parametrize("kwargs", ENCODERS, ids=lambda kw: "-".join(f"{v}" for v in kw.values()))
@pytest.mark.parametrize("graph", ["four_blocks", "weighted_with_loops"])
def test_predict_in_batches_equals_the_full_graph_pass(kwargs, graph, request):
    # Each node sees its full neighbourhood, normalized with full-graph degrees: the batched
    # memberships are those of the full-batch forward pass, whatever the batch boundaries.
    data = request.getfixturevalue(graph)
    torch.manual_seed(0)
    model = NeuNcut(8, 4, hidden_channels=16, **kwargs).eval()
    full = model.predict_proba(data)
    for batch_size in (1, 37, 1000):
        batched = model.predict_proba(data, batch_size=batch_size)
        assert torch.allclose(batched, full, atol=1e-5), (batch_size, (batched - full).abs().max())
    assert torch.equal(model.predict(data, batch_size=50), full.argmax(-1))


def test_custom_encoder_in_batches_needs_its_hops(four_blocks):
    from torch_geometric.nn.models import GraphSAGE

    model = NeuNcut(8, 4, encoder=GraphSAGE(8, 16, num_layers=1, out_channels=4))
    with pytest.raises(ValueError, match="num_neighbors"):
        model.fit(four_blocks, batch_size=32, progress=False)
    with pytest.raises(ValueError, match="num_neighbors"):
        model.predict(four_blocks, batch_size=32)
    model.fit(four_blocks, epochs=2, batch_size=64, num_neighbors=[5], n_init=1, progress=False)
    full = model.predict_proba(four_blocks)
    assert torch.allclose(model.predict_proba(four_blocks, batch_size=50, num_neighbors=[-1]), full, atol=1e-5)


# From random parameters (the spectral start alone gives NMI 1.0 here): the encoder's training
# must find the blocks. Untrained, seeds 0-7: SAGE NMI 0.32-0.66, the custom GCN 0.00-0.67.
# Trained (n_init=3, 150 epochs, random start), seeds 0-7: NMI 1.000 for both on every seed.
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sage_encoder(three_blocks, seed):
    model = quick_fit(NeuNcut(8, 3, encoder="sage", hidden_channels=32), three_blocks, n_init=3, seed=seed,
                      init="random")
    assert isinstance(model.encoder.net, GraphSAGE)
    assert normalized_mutual_info_score(three_blocks.y.numpy(), model.predict(three_blocks).numpy()) > 0.9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_custom_encoder_returning_logits(three_blocks, seed):
    encoder = GCN(8, 32, num_layers=2, out_channels=3)
    model = NeuNcut(8, 3, encoder=encoder)
    assert model.head is None and model.encoder.net is encoder
    quick_fit(model, three_blocks, n_init=3, seed=seed, init="random")
    assert normalized_mutual_info_score(three_blocks.y.numpy(), model.predict(three_blocks).numpy()) > 0.9
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


def test_custom_encoder_with_linear_head(three_blocks):
    model = NeuNcut(8, 3, encoder=EdgeIndexOnly(8, 16), encoder_out_channels=16)
    assert model.head is not None and model.head.in_features == 16
    quick_fit(model, three_blocks)
    assert model.predict(three_blocks).shape == (three_blocks.num_nodes,)


def test_custom_encoder_with_wrong_output_width(three_blocks):
    model = NeuNcut(8, 3, encoder=EdgeIndexOnly(8, 5))
    with pytest.raises(ValueError, match=r"logits of shape \[120, 3\]"):
        model(three_blocks.x, three_blocks.edge_index)


def bag_of_words(data: Data, num_words: int = 300, density: float = 0.02, seed: int = 0) -> Data:
    """``data`` with sparse 0/1 features whose words depend on the block (as Cora's and CiteSeer's,
    density 1.3% and 0.9%): well below encoders.SPARSE_FEATURE_DENSITY."""
    g = torch.Generator().manual_seed(seed)
    k = int(data.y.max()) + 1
    word_rates = torch.rand(k, num_words, generator=g) ** 4  # a few frequent words per block
    word_rates *= density * num_words / word_rates.sum(1, keepdim=True)
    x = (torch.rand(data.num_nodes, num_words, generator=g) < word_rates[data.y]).float()
    return Data(x=x, edge_index=data.edge_index, y=data.y)


@pytest.fixture
def first_layer_inputs(monkeypatch):
    """Records the layout of the features each GCN encoder's network is called with."""
    layouts = []
    original = encoders.GCNEncoder.forward

    def spy(self, inputs):
        layouts.append(inputs.x.layout)
        return original(self, inputs)

    monkeypatch.setattr(encoders.GCNEncoder, "forward", spy)
    return layouts


@pytest.mark.parametrize("num_layers", [1, 2])
def test_sparse_features_take_the_csr_path_and_match_the_dense_one(three_blocks, num_layers, monkeypatch,
                                                                   first_layer_inputs):
    # The CSR path is the one Cora and CiteSeer take in every benchmark: memberships, gradients
    # and a short fit must be those of the dense path, which a threshold of -1 forces.
    data = bag_of_words(three_blocks)
    density = float((data.x != 0).float().mean())
    assert 0 < density < encoders.SPARSE_FEATURE_DENSITY, density

    def run(threshold):
        monkeypatch.setattr(encoders, "SPARSE_FEATURE_DENSITY", threshold)
        torch.manual_seed(0)
        model = NeuNcut(300, 3, hidden_channels=16, num_layers=num_layers, dropout=0.0)
        first_layer_inputs.clear()
        proba = model.predict_proba(data)
        model.train()
        loss = relaxed_ncut_loss(model(data.x, data.edge_index), data.edge_index, gamma=10.0).loss
        grads = torch.autograd.grad(loss, list(model.parameters()))
        fitted = NeuNcut(300, 3, hidden_channels=16, num_layers=num_layers, dropout=0.0)
        fitted.fit(data, epochs=20, lr=1e-2, n_init=1, seed=0, init="random", progress=False)
        layouts = set(first_layer_inputs)
        return proba, loss, grads, fitted, layouts

    sparse, dense = run(encoders.SPARSE_FEATURE_DENSITY), run(-1.0)
    assert sparse[4] == {torch.sparse_csr} and dense[4] == {torch.strided}  # each took its own path
    torch.testing.assert_close(sparse[0], dense[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(sparse[1], dense[1], atol=1e-5, rtol=1e-5)
    for got, want in zip(sparse[2], dense[2]):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert sparse[3].loss_history_.loss == pytest.approx(dense[3].loss_history_.loss, rel=1e-4)
    torch.testing.assert_close(sparse[3].predict_proba(data), dense[3].predict_proba(data), atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("encoder", ["gcn", "sage"])
def test_gnn_input_follows_the_mode_of_the_fit(six_communities, encoder, tmp_path):
    from neuncut_pyg.checkpoint import load_checkpoint, save_checkpoint
    from neuncut_pyg.models.graph import read_graph

    data = six_communities
    full = NeuNcut(data.num_features, 6, encoder=encoder, hidden_channels=16).fit(data, epochs=2, n_init=1, seed=0,
                                                                                   progress=False)
    assert full.encoder.input_scaling.depth == encoders.RAW_INPUT
    graph = read_graph(data, data.num_features, "predict")
    assert full.encoder.node_features(graph) is graph.x  # full batch: the features as given

    mini = NeuNcut(data.num_features, 6, encoder=encoder, hidden_channels=16).fit(
        data, epochs=1, seed=0, batch_size=300, progress=False)
    steps = mini.init_clustering_.steps
    assert steps >= 1 and mini.encoder.input_scaling.depth == steps  # the start's smoothing depth
    rows = mini.encoder.node_features(graph)
    assert rows.shape == data.x.shape and not torch.equal(rows, data.x)
    torch.testing.assert_close(rows.mean(dim=0), torch.zeros(data.num_features), atol=1e-4, rtol=0)
    # predict reads the graph as the fit did: in batches with whole neighbourhoods, the same rows.
    torch.testing.assert_close(mini.predict_proba(data, batch_size=256), mini.predict_proba(data))
    if mini.kept_ == "trained":
        assert torch.equal(mini.predict(data), mini.labels_)
    # A checkpoint keeps the fitted input.
    save_checkpoint(tmp_path, mini, {}, [str(i) for i in range(data.num_nodes)])
    loaded, _, _ = load_checkpoint(tmp_path)
    assert loaded.encoder.input_scaling.depth == steps
    torch.testing.assert_close(loaded.predict_proba(data), mini.predict_proba(data))
    # A warm start keeps the input it was fitted with.
    mini.fit(data, epochs=1, n_init=1, warm_start=True, progress=False)
    assert mini.encoder.input_scaling.depth == steps


@pytest.mark.parametrize("encoder", ["gcn", "sage"])
def test_sampled_batches_run_the_head_on_the_seeds_alone(six_communities, encoder):
    # The loss reads the seeds' memberships only; the activation, dropout and head act row by row,
    # so in a sampled batch (seeds first, then their neighbours) they run on the seeds' rows.
    data = six_communities
    batch_size = 100
    model = NeuNcut(data.num_features, 6, encoder=encoder, hidden_channels=16)
    head_rows = []
    model.head.register_forward_hook(lambda module, args, out: head_rows.append(args[0].size(0)))
    model.fit(data, epochs=1, seed=0, batch_size=batch_size, progress=False)
    proba = model.predict_proba(data, batch_size=batch_size)
    assert head_rows and max(head_rows) <= batch_size < data.num_nodes  # every call: at most the seeds
    torch.testing.assert_close(proba, model.predict_proba(data))  # the same memberships as the whole graph
