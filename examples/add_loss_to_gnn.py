r"""Add NeuNcut's loss to a GNN you already have.

Two short recipes on synthetic data made here (nothing is downloaded):

(a) **Clustering.** Put a softmax on any PyG model — here PyG's own ``GraphSAGE`` — and train it
    on :class:`neuncut_pyg.RelaxedNcutLoss` alone, without labels. On a planted-partition graph
    the argmax of the memberships recovers the blocks (NMI), and its discrete normalized cut is
    printed next to that of the planted blocks.

(b) **Pooling.** Swap PyG's ``DMoNPooling`` for :class:`neuncut_pyg.NcutPooling` in a
    hierarchical graph classifier (in the manner of PyG's ``examples/proteins_dmon_pool.py``).
    Every graph has four groups of nodes, each with its own colour (a one-hot feature, plus
    noise); the class says whether the graph has four communities, one per colour, or two
    communities of two colours each. Colour counts, sizes and expected degrees are the same in
    both classes: only how the communities sit relative to the colours tells them apart. Both
    networks get the same data, seeds and budget; their accuracies are printed in one table.

On ``--gamma``: the orthogonality weight trades the cut against crisp, balanced clusters. The
library's default is the paper's 80; on these small synthetic graphs it makes memberships crisp
before the cut has steered them, and a run can stall in a poor partition, so this example uses
``--gamma 5`` (the measurement is in ``docs/examples.md``).

Usage::

    python examples/add_loss_to_gnn.py                # both recipes
    python examples/add_loss_to_gnn.py --quick        # a smoke test, a few seconds
    python examples/add_loss_to_gnn.py --epochs 60 --seed 1 --gamma 80
"""
from __future__ import annotations

import argparse
import time
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from sklearn.metrics import normalized_mutual_info_score
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.nn import DenseGraphConv, DMoNPooling, GCNConv, GraphSAGE
from torch_geometric.utils import stochastic_blockmodel_graph, to_dense_adj, to_dense_batch

from neuncut_pyg import NcutPooling, RelaxedNcutLoss
from neuncut_pyg.metrics import normalized_cut


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Add NeuNcut's loss to a GNN you already have.")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of (b) per network; (a) takes 10 full-batch steps per epoch "
                             "(default: 30, or 10 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and weights (default: 0)")
    parser.add_argument("--gamma", type=float, default=5.0,
                        help="orthogonality weight of the loss in (a) and (b) (default: 5.0)")
    parser.add_argument("--quick", action="store_true", help="small data, few epochs: a smoke test")
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = 10 if args.quick else 30
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    if args.gamma < 0:
        parser.error("--gamma must be >= 0")
    return args


# ---------------------------------------------------------------------------------------------
# Synthetic data
# ---------------------------------------------------------------------------------------------
def planted_partition_edges(block_sizes: List[int], avg_degree: float, mixing: float,
                            generator: torch.Generator) -> Tensor:
    """An undirected stochastic block model graph; ``mixing`` is the expected share of a node's
    edges that leave its block."""
    n, num_blocks = sum(block_sizes), len(block_sizes)
    block = n / num_blocks
    probs = torch.full((num_blocks, num_blocks), avg_degree * mixing / (n - block))
    probs.fill_diagonal_(min(avg_degree * (1 - mixing) / block, 1.0))
    # stochastic_blockmodel_graph draws from the global RNG: seed it from our generator.
    torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
    return stochastic_blockmodel_graph(block_sizes, probs)


def clustering_graph(num_blocks: int, block_size: int, generator: torch.Generator
                     ) -> Tuple[Tensor, Tensor, Tensor]:
    """Graph of (a): noisy Gaussian features around one unit-norm mean per block.

    Returns ``(x [N, 16], edge_index [2, E], blocks [N])``.
    """
    edge_index = planted_partition_edges([block_size] * num_blocks, avg_degree=12.0, mixing=0.15,
                                         generator=generator)
    blocks = torch.arange(num_blocks).repeat_interleave(block_size)
    means = torch.randn(num_blocks, 16, generator=generator)
    means = F.normalize(means - means.mean(0), dim=-1)  # centred: the global mean says nothing
    x = means[blocks] + 0.7 * torch.randn(blocks.numel(), 16, generator=generator)
    return x, edge_index, blocks


def community_dataset(num_graphs: int, seed: int, palette: int = 8) -> List[Data]:
    """Graphs of (b): 4 colour groups of 8-12 nodes; label 1 if each colour is a community of
    its own, label 0 if the graph has 2 communities holding 2 colours each."""
    generator = torch.Generator().manual_seed(seed)
    graphs = []
    for i in range(num_graphs):
        label = i % 2
        num_communities = 4 if label == 1 else 2
        group = int(torch.randint(8, 13, (1,), generator=generator))
        n = 4 * group
        edge_index = planted_partition_edges([n // num_communities] * num_communities,
                                             avg_degree=6.0, mixing=0.1, generator=generator)
        node_colour = torch.arange(n) // group  # communities are contiguous blocks of nodes
        if label == 0:  # mix the two colour groups of each community
            size = n // 2
            node_colour = node_colour[torch.cat([torch.randperm(size, generator=generator) + j * size
                                                 for j in range(2)])]
        colours = torch.randperm(palette, generator=generator)[:4]
        x = F.one_hot(colours[node_colour], palette).float()
        x = x + 0.5 * torch.randn(n, palette, generator=generator)
        graphs.append(Data(x=x, edge_index=edge_index, y=torch.tensor([label])))
    order = torch.randperm(num_graphs, generator=generator).tolist()
    return [graphs[i] for i in order]


# ---------------------------------------------------------------------------------------------
# (a) A user's GraphSAGE + RelaxedNcutLoss
# ---------------------------------------------------------------------------------------------
def cluster_with_graphsage(args: argparse.Namespace) -> Tuple[float, float, float]:
    """Returns (NMI, discrete Ncut of the prediction, discrete Ncut of the planted blocks)."""
    num_blocks, block_size = (4, 60) if args.quick else (5, 120)
    x, edge_index, blocks = clustering_graph(num_blocks, block_size,
                                             torch.Generator().manual_seed(args.seed))

    torch.manual_seed(args.seed)
    model = GraphSAGE(x.size(1), hidden_channels=64, num_layers=2, out_channels=num_blocks)
    criterion = RelaxedNcutLoss(gamma=args.gamma)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(10 * args.epochs):
        optimizer.zero_grad()
        s = model(x, edge_index).softmax(dim=-1)  # all a model needs: a softmax head
        criterion(s, edge_index).loss.backward()
        optimizer.step()

    model.eval()
    with torch.no_grad():
        pred = model(x, edge_index).argmax(dim=-1)
    nmi = normalized_mutual_info_score(blocks.numpy(), pred.numpy())
    return nmi, normalized_cut(pred, edge_index), normalized_cut(blocks, edge_index)


# ---------------------------------------------------------------------------------------------
# (b) Hierarchical graph classification: DMoNPooling -> NcutPooling
# ---------------------------------------------------------------------------------------------
class HierarchicalNet(torch.nn.Module):
    """GCN -> pool -> dense GraphConv -> pool -> dense GraphConv -> mean -> MLP.

    ``pooling="ncut"`` uses :class:`NcutPooling`, whose sparse form takes ``edge_index`` and
    ``batch`` as they come; ``pooling="dmon"`` uses PyG's :class:`DMoNPooling` on
    ``to_dense_batch`` / ``to_dense_adj``. Every other layer is the same.
    """

    def __init__(self, in_channels: int, num_classes: int, clusters: Tuple[int, int], pooling: str,
                 gamma: float, hidden_channels: int = 32) -> None:
        super().__init__()
        if pooling not in ("ncut", "dmon"):
            raise ValueError(f"pooling must be 'ncut' or 'dmon', got {pooling!r}")
        self.pooling = pooling
        self.conv1 = GCNConv(in_channels, hidden_channels)
        self.conv2 = DenseGraphConv(hidden_channels, hidden_channels)
        self.conv3 = DenseGraphConv(hidden_channels, hidden_channels)
        if pooling == "ncut":
            self.pool1 = NcutPooling([hidden_channels, hidden_channels], clusters[0], gamma=gamma)
            self.pool2 = NcutPooling([hidden_channels, hidden_channels], clusters[1], gamma=gamma)
        else:
            self.pool1 = DMoNPooling([hidden_channels, hidden_channels], clusters[0])
            self.pool2 = DMoNPooling([hidden_channels, hidden_channels], clusters[1])
        self.lin1 = torch.nn.Linear(hidden_channels, hidden_channels)
        self.lin2 = torch.nn.Linear(hidden_channels, num_classes)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> Tuple[Tensor, Tensor]:
        """Returns log-probabilities ``[B, num_classes]`` and the pooling layers' auxiliary loss."""
        x = self.conv1(x, edge_index).relu()
        if self.pooling == "ncut":
            _, x, adj, cut1, orth1 = self.pool1(x, edge_index, batch=batch)
            x = self.conv2(F.selu(x), adj).relu()  # SELU: what DMoNPooling applies inside
            _, x, adj, cut2, orth2 = self.pool2(x, adj)
            x = F.selu(x)
            aux_loss = cut1 + orth1 + cut2 + orth2
        else:
            x, mask = to_dense_batch(x, batch)
            adj = to_dense_adj(edge_index, batch)
            _, x, adj, spectral1, ortho1, cluster1 = self.pool1(x, adj, mask)
            x = self.conv2(x, adj).relu()
            _, x, adj, spectral2, ortho2, cluster2 = self.pool2(x, adj)
            aux_loss = spectral1 + ortho1 + cluster1 + spectral2 + ortho2 + cluster2
        x = self.conv3(x, adj).mean(dim=1)
        x = self.lin2(self.lin1(x).relu())
        return F.log_softmax(x, dim=-1), aux_loss


def train_graph_classifier(pooling: str, train_set: List[Data], test_set: List[Data],
                           args: argparse.Namespace) -> Tuple[float, float, float]:
    """Trains one network; returns (train accuracy, test accuracy, seconds)."""
    torch.manual_seed(args.seed)  # the same initial weights for the shared layers
    model = HierarchicalNet(train_set[0].num_features, 2, clusters=(8, 4), pooling=pooling,
                            gamma=args.gamma)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3, weight_decay=1e-4)
    loader = DataLoader(train_set, batch_size=20, shuffle=True,
                        generator=torch.Generator().manual_seed(args.seed))  # the same batches
    start = time.perf_counter()
    for _ in range(args.epochs):
        model.train()
        for data in loader:
            optimizer.zero_grad()
            log_probs, aux_loss = model(data.x, data.edge_index, data.batch)
            (F.nll_loss(log_probs, data.y) + aux_loss).backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    return accuracy(model, train_set), accuracy(model, test_set), seconds


@torch.no_grad()
def accuracy(model: HierarchicalNet, graphs: List[Data]) -> float:
    model.eval()
    correct = 0
    for data in DataLoader(graphs, batch_size=100):
        log_probs, _ = model(data.x, data.edge_index, data.batch)
        correct += int((log_probs.argmax(dim=-1) == data.y).sum())
    return correct / len(graphs)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    # These graphs are small: one thread is as fast, and spares a shared machine's other cores.
    torch.set_num_threads(1)

    print(f"(a) PyG GraphSAGE + softmax head, trained on RelaxedNcutLoss(gamma={args.gamma:g}) alone")
    start = time.perf_counter()
    nmi, ncut, planted_ncut = cluster_with_graphsage(args)
    print(f"    NMI = {nmi:.3f}   discrete Ncut = {ncut:.3f} (planted blocks: {planted_ncut:.3f})"
          f"   [{time.perf_counter() - start:.1f}s]")

    graphs = community_dataset(120 if args.quick else 600, args.seed)
    num_test = len(graphs) // 5
    test_set, train_set = graphs[:num_test], graphs[num_test:]
    print(f"\n(b) graph classification, 2 vs 4 communities: {len(train_set)} train / {len(test_set)} "
          f"test graphs, {args.epochs} epochs, clusters (8, 4)")
    print(f"    {'pooling':<12} {'train acc':>9} {'test acc':>9} {'seconds':>8}")
    for name, pooling in (("NcutPooling", "ncut"), ("DMoNPooling", "dmon")):
        train_acc, test_acc, seconds = train_graph_classifier(pooling, train_set, test_set, args)
        print(f"    {name:<12} {train_acc:>9.3f} {test_acc:>9.3f} {seconds:>8.1f}")


if __name__ == "__main__":
    main()
