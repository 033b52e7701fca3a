"""Mini-batch training and inference of NeuNcut with NeighborLoader, and the statistics tracker."""
from __future__ import annotations

import pytest
import torch
from sklearn.metrics import normalized_mutual_info_score
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader
from torch_geometric.utils import stochastic_blockmodel_graph, to_undirected

from neuncut_pyg.fitting import train_mini_batch
from neuncut_pyg.loss import relaxed_ncut_loss
from neuncut_pyg.models import NeuNcut
from neuncut_pyg.models.encoders import EncoderInput
from neuncut_pyg.propagation import propagate_features
from neuncut_pyg.sampling import batch_estimate, sampling_data

pytestmark = [pytest.mark.filterwarnings("ignore:Sparse:UserWarning"), pytest.mark.usefixtures("one_torch_thread")]


def planted(num_blocks: int = 4, block_size: int = 60, num_features: int = 8, seed: int = 0) -> Data:
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    probs = torch.full((num_blocks, num_blocks), 0.02)
    probs.fill_diagonal_(0.2)
    edge_index = stochastic_blockmodel_graph([block_size] * num_blocks, probs)
    y = torch.arange(num_blocks).repeat_interleave(block_size)
    means = 2.0 * torch.randn(num_blocks, num_features, generator=generator)
    x = means[y] + torch.randn(y.numel(), num_features, generator=generator)
    return Data(x=x, edge_index=edge_index, y=y)


@pytest.fixture(scope="module")
def blocks() -> Data:
    return planted()


@pytest.fixture(scope="module")
def weighted_with_loops(blocks) -> Data:
    # Weighted, symmetric, with some self-loops: every special case of the normalization at once.
    n = blocks.num_nodes
    weight = torch.rand(blocks.edge_index.size(1), generator=torch.Generator().manual_seed(3)) + 0.1
    loops = torch.arange(0, n, 7)
    edge_index = torch.cat([blocks.edge_index, loops.repeat(2, 1)], dim=1)
    weight = torch.cat([weight, torch.full((loops.numel(),), 0.5)])
    edge_index, weight = to_undirected(edge_index, weight, num_nodes=n, reduce="max")
    return Data(x=blocks.x, edge_index=edge_index, edge_weight=weight, y=blocks.y)


def nmi(data: Data, labels: torch.Tensor) -> float:
    return normalized_mutual_info_score(data.y.numpy(), labels.numpy())


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


@pytest.mark.parametrize("kwargs", ENCODERS, ids=lambda kw: "-".join(f"{v}" for v in kw.values()))
@pytest.mark.parametrize("graph", ["blocks", "weighted_with_loops"])
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


@pytest.mark.parametrize("encoder", ["gcn", "sage", "mlp"])
def test_mini_batch_fit_recovers_planted_blocks(blocks, encoder):
    model = NeuNcut(8, 4, encoder=encoder, hidden_channels=32)
    model.fit(blocks, epochs=15, lr=1e-2, n_init=1, seed=0, batch_size=48, progress=False)
    labels = model.predict(blocks, batch_size=64)
    assert nmi(blocks, labels) > 0.9
    history = model.loss_history_
    assert len(history) == 15 and history.loss[-1] < 0.6 * history.loss[0]
    # objective_ is the full graph's loss of the final memberships, at the gamma used.
    full = relaxed_ncut_loss(model.predict_proba(blocks), blocks.edge_index, gamma=model.gamma_).loss
    assert model.objective_ == pytest.approx(float(full), rel=1e-5)


def test_mini_batch_fit_is_seeded(blocks):
    def run():
        model = NeuNcut(8, 4, encoder="gcn", hidden_channels=16)
        return model.fit(blocks, epochs=2, n_init=2, seed=5, batch_size=64, num_neighbors=[5, 3], progress=False)

    a, b = run(), run()
    assert a.init_objectives_ == b.init_objectives_
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_mini_batch_settings_are_checked(blocks):
    model = NeuNcut(8, 4, encoder="gcn", num_layers=2, hidden_channels=16)
    with pytest.raises(ValueError, match="needs 3"):
        model.fit(blocks, batch_size=32, num_neighbors=[10, 10], progress=False)
    with pytest.raises(ValueError, match="give a batch_size"):
        model.fit(blocks, num_neighbors=[10, 10, 10], progress=False)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            model.fit(blocks, batch_size=bad, progress=False)
        with pytest.raises(ValueError, match="batch_size"):
            model.predict(blocks, batch_size=bad)
    for bad in ([], [0, 1, 2], [10, "a", 3], 10):
        with pytest.raises(ValueError, match="num_neighbors"):
            model.fit(blocks, batch_size=32, num_neighbors=bad, progress=False)


def test_custom_encoder_in_batches_needs_its_hops(blocks):
    from torch_geometric.nn.models import GraphSAGE

    model = NeuNcut(8, 4, encoder=GraphSAGE(8, 16, num_layers=1, out_channels=4))
    with pytest.raises(ValueError, match="num_neighbors"):
        model.fit(blocks, batch_size=32, progress=False)
    with pytest.raises(ValueError, match="num_neighbors"):
        model.predict(blocks, batch_size=32)
    model.fit(blocks, epochs=2, batch_size=64, num_neighbors=[5, 5], n_init=1, progress=False)
    full = model.predict_proba(blocks)
    assert torch.allclose(model.predict_proba(blocks, batch_size=50, num_neighbors=[-1]), full, atol=1e-5)


def test_propagate_features_is_the_gcn_normalized_power(blocks):
    n = blocks.num_nodes
    adj = torch.zeros(n, n)
    adj[blocks.edge_index[0], blocks.edge_index[1]] = 1.0
    adj += torch.eye(n)
    d = adj.sum(1).rsqrt()
    a_hat = d[:, None] * adj * d[None, :]
    want = a_hat @ (a_hat @ blocks.x)
    assert torch.allclose(propagate_features(blocks.x, blocks.edge_index, steps=2), want, atol=1e-5)
    assert torch.equal(propagate_features(blocks.x, blocks.edge_index, steps=0), blocks.x)
    with pytest.raises(ValueError, match="steps"):
        propagate_features(blocks.x, blocks.edge_index, steps=-1)
    with pytest.raises(ValueError, match="propagation_steps"):
        NeuNcut(8, 4, encoder="gcn", propagation_steps=2)


@pytest.mark.parametrize("case", ["undirected", "weighted with self-loops", "directed"])
def test_propagation_matches_the_dense_formula_on_every_graph_kind(case):
    # Undirected graphs take a path that never builds the transpose or a self-loop copy; the
    # dense formula is A_hat = D^-1/2 (W^T without its diagonal + I) D^-1/2 (PyG's gcn_norm on adj_t).
    from torch_geometric.utils import to_undirected

    g = torch.Generator().manual_seed(1)
    n = 40
    edge_index = torch.randint(0, n, (2, 160), generator=g)
    weight = None
    if case != "directed":
        edge_index = to_undirected(edge_index)
    if case == "weighted with self-loops":
        edge_index = torch.cat([edge_index, torch.tensor([[2, 5], [2, 5]])], dim=1)
        half = torch.rand(edge_index.size(1), generator=g, dtype=torch.float64)
        dense = torch.zeros(n, n, dtype=torch.float64).index_put_((edge_index[0], edge_index[1]), half, accumulate=True)
        dense = dense + dense.t()
        edge_index = dense.nonzero().t()
        weight = dense[edge_index[0], edge_index[1]]
    w = torch.zeros(n, n, dtype=torch.float64)
    w.index_put_((edge_index[0], edge_index[1]),
                 torch.ones(edge_index.size(1), dtype=torch.float64) if weight is None else weight, accumulate=True)
    a = w.t().clone()
    a.fill_diagonal_(1.0)
    d = a.sum(1).rsqrt()
    a_hat = d[:, None] * a * d[None, :]
    x = torch.randn(n, 5, generator=g, dtype=torch.float64)
    got = propagate_features(x, edge_index, weight, steps=3)
    torch.testing.assert_close(got, a_hat @ (a_hat @ (a_hat @ x)))


def test_sampling_data_shares_the_callers_edge_index(blocks):
    # At OGB scale a copy of edge_index is GBs: the loader's graph is the caller's tensor.
    from neuncut_pyg.sampling import sampling_data

    sampled = sampling_data(blocks.x, blocks.edge_index, num_nodes=blocks.num_nodes)
    assert sampled.edge_index.data_ptr() == blocks.edge_index.data_ptr()


@pytest.mark.parametrize("mode", ["full batch", "mini-batch", "mini-batch gcn"])
def test_fit_predict_labels_are_what_predict_gives(blocks, mode):
    encoder = "gcn" if mode == "mini-batch gcn" else "mlp"
    batch = None if mode == "full batch" else 64
    model = NeuNcut(8, 4, encoder=encoder)
    labels = model.fit_predict(blocks, epochs=3, lr=1e-2, n_init=2, seed=0, batch_size=batch, progress=False)
    assert labels is model.labels_ and labels.shape == (blocks.num_nodes,) and labels.dtype == torch.long
    assert torch.equal(labels, model.predict(blocks, batch_size=batch))
    assert torch.equal(labels, model.predict(blocks))


# ------------------------------------------------------------------------------------------------
# train_mini_batch
# ------------------------------------------------------------------------------------------------
def test_train_mini_batch_reports_epoch_means(blocks):
    n = blocks.num_nodes
    model = NeuNcut(8, 4, encoder="mlp", hidden_channels=16)
    sampled = sampling_data(propagate_features(blocks.x, blocks.edge_index, steps=2), blocks.edge_index, num_nodes=n)
    loader = NeighborLoader(sampled, num_neighbors=[5], batch_size=80, shuffle=True)
    on_batch = lambda batch: model._logits(EncoderInput(batch.x)).softmax(-1)  # noqa: E731
    module = torch.nn.ModuleDict({"m": model})
    module.forward = on_batch  # a Module for train()/eval(), called with a batch
    history = train_mini_batch(module, loader, lambda s, b: batch_estimate(s, b, n), epochs=3, lr=1e-2,
                               gamma=5.0, progress=False)
    assert len(history) == 3
    for loss, cut, orth in zip(history.loss, history.cut, history.orth):
        assert loss == pytest.approx(cut + 2.5 * orth, rel=1e-6)  # means of per-batch values
    with pytest.raises(ValueError, match="no batches"):
        train_mini_batch(module, [], lambda s, b: batch_estimate(s, b, n), epochs=1, lr=1e-2, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        train_mini_batch(module, loader, lambda s, b: batch_estimate(s, b, n), epochs=0, lr=1e-2, progress=False)
