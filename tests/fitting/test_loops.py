"""The training loops (:mod:`neuncut_pyg.fitting.loops`): full batch, mini-batch and the
cross-entropy fit to a partition, called directly."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.loader import NeighborLoader

from neuncut_pyg.adjacency import to_sparse_adjacency
from neuncut_pyg.fitting import train_full_batch, train_mini_batch, train_to_partition
from neuncut_pyg.models import NeuNcut
from neuncut_pyg.models.encoders import EncoderInput
from neuncut_pyg.propagation import propagate_features
from neuncut_pyg.sampling import batch_estimate, sampling_data

pytestmark = [pytest.mark.filterwarnings("ignore:Sparse:UserWarning"), pytest.mark.usefixtures("one_torch_thread")]


def test_train_full_batch_directly(three_blocks):
    adj = to_sparse_adjacency(three_blocks.edge_index, num_nodes=three_blocks.num_nodes)
    model = torch.nn.Sequential(torch.nn.Linear(8, 3), torch.nn.Softmax(-1))

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, x, edge_index):
            return self.net(x)

    wrapped = Wrapped()
    history = train_full_batch(wrapped, lambda: wrapped(three_blocks.x, None), adj, epochs=5, lr=1e-2, gamma=10.0,
                               progress=False)
    assert len(history) == 5
    with pytest.raises(TypeError, match="SparseTensor"):
        train_full_batch(wrapped, lambda: wrapped(three_blocks.x, None), three_blocks.edge_index, epochs=5, lr=1e-2,
                         progress=False)


def test_diverging_training_raises_instead_of_returning_nan(three_blocks):
    class Exploding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(1.0))

        def forward(self, x, edge_index):
            return (x[:, :3] * self.scale * float("inf")).softmax(-1)

    adj = to_sparse_adjacency(three_blocks.edge_index, num_nodes=three_blocks.num_nodes)
    exploding = Exploding()
    with pytest.raises(ValueError, match="NaN or infinite"):
        train_full_batch(exploding, lambda: exploding(three_blocks.x, None), adj, epochs=2, lr=1e-2, progress=False)


# ------------------------------------------------------------------------------------------------
# train_mini_batch
# ------------------------------------------------------------------------------------------------
def test_train_mini_batch_reports_epoch_means(four_blocks):
    n = four_blocks.num_nodes
    model = NeuNcut(8, 4, encoder="mlp", hidden_channels=16)
    sampled = sampling_data(propagate_features(four_blocks.x, four_blocks.edge_index, steps=2), four_blocks.edge_index, num_nodes=n)
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


def test_train_to_partition_makes_the_network_reproduce_it(six_communities):
    target = torch.from_numpy(np.arange(1200) % 6)[torch.randperm(1200, generator=torch.Generator().manual_seed(0))]
    model = NeuNcut(six_communities.num_features, 6, encoder="mlp", propagation_steps=0, dropout=0.0, hidden_channels=256)
    x = six_communities.x

    def batches():
        while True:
            yield model(x, six_communities.edge_index), target

    torch.manual_seed(0)
    losses = train_to_partition(model, batches(), steps=200, lr=1e-2)
    assert len(losses) == 200 and losses[-1] < 0.5 * losses[0]
    model.eval()
    agreement = (model(x, six_communities.edge_index).argmax(1) == target).float().mean()
    assert agreement > 0.9  # a random partition, so memorized rather than generalized


def test_train_to_partition_leaves_negative_labels_out():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=-1))
    x = torch.randn(20, 4)
    target = torch.full((20,), -1)
    target[:5] = 2

    def batches():
        while True:
            yield model(x), target

    losses = train_to_partition(model, batches(), steps=50, lr=1e-1)
    assert np.isfinite(losses).all() and losses[-1] < 0.1  # only the five labelled rows count
    with pytest.raises(ValueError, match="no node with a label"):
        train_to_partition(model, iter([(model(x), torch.full((20,), -1))]), steps=1, lr=1e-2)
