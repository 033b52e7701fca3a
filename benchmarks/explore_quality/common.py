"""Shared helpers of the clustering-quality exploration (issue 4, part 3).

Everything here is label-free except :func:`report`, which reads the labels only to print
NMI/ACC next to the label-free scores that the choices are made on.

A run trains a membership head (an MLP on precomputed features, or a GNN) on the relaxed
normalized cut of an *affinity* (the graph, or the graph plus a kNN graph of propagated
features), full batch, with Adam, and keeps the lowest final loss over ``n_init`` restarts.
"""
from __future__ import annotations

import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_sparse import SparseTensor

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from neuncut_pyg.data import load_planetoid  # noqa: E402
from neuncut_pyg.knn import knn_graph_from_vectors  # noqa: E402
from neuncut_pyg.loss import relaxed_ncut_loss  # noqa: E402
from neuncut_pyg.metrics import evaluate_clustering, normalized_cut  # noqa: E402

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")

SHARED = REPO.parent / "shared" / "datasets" / "Planetoid"
ROOT = Path("/tmp/nq_data")


def load(name: str):
    """Cora / CiteSeer from a writable copy of the shared raw files."""
    canonical = {"cora": "Cora", "citeseer": "CiteSeer"}[name.lower()]
    raw = ROOT / "Planetoid" / canonical / "raw"
    if not raw.is_dir():
        shutil.copytree(SHARED / canonical / "raw", raw)
    return load_planetoid(canonical, ROOT)


def propagate(x: Tensor, edge_index: Tensor, steps: int, num_nodes: int) -> Tensor:
    """SGC features: A_hat^K X with A_hat = D~^-1/2 (A + I) D~^-1/2."""
    adj = SparseTensor(row=edge_index[0], col=edge_index[1], sparse_sizes=(num_nodes, num_nodes))
    adj = gcn_norm(adj, add_self_loops=True)
    out = x
    for _ in range(steps):
        out = adj @ out
    return out


def l2_rows(x: Tensor) -> Tensor:
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def unit_scale(x: Tensor) -> Tensor:
    """Divides by the mean row norm (rows of norm ~1 on average), so that one learning rate
    suits raw and normalized, few- and many-step propagated features alike."""
    return x / x.norm(dim=1).mean().clamp_min(1e-12)


def affinity(edge_index: Tensor, num_nodes: int, knn_x: Optional[Tensor] = None, knn_k: int = 10,
             knn_weight: float = 1.0, graph_weight: float = 1.0) -> SparseTensor:
    """Graph (unit weights) plus ``knn_weight`` x the self-tuning kNN graph of ``knn_x``."""
    rows, cols, vals = [edge_index[0]], [edge_index[1]], [torch.full((edge_index.size(1),), graph_weight)]
    if graph_weight == 0:
        rows, cols, vals = [], [], []
    if knn_x is not None and knn_weight > 0:
        ei, ew = knn_graph_from_vectors(knn_x, k=knn_k, metric="cosine")
        rows.append(ei[0]); cols.append(ei[1]); vals.append(ew * knn_weight)
    adj = SparseTensor(row=torch.cat(rows), col=torch.cat(cols), value=torch.cat(vals).float(),
                       sparse_sizes=(num_nodes, num_nodes)).coalesce("add")
    return adj


class Head(torch.nn.Module):
    """MLP on precomputed features: Linear -> SELU -> dropout -> ... -> Linear(k)."""

    def __init__(self, fin: int, k: int, hidden: int = 128, layers: int = 1, dropout: float = 0.5):
        super().__init__()
        dims = [fin] + [hidden] * layers
        self.lins = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = torch.nn.Linear(dims[-1], k)
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        for lin in self.lins:
            x = torch.nn.functional.dropout(torch.selu(lin(x)), self.dropout, self.training)
        return self.out(x)


class GCNHead(torch.nn.Module):
    """NeuNcut's default: GCN layer (on a fixed normalized graph) -> SELU -> dropout -> Linear(k)."""

    def __init__(self, fin: int, k: int, adj_norm: SparseTensor, hidden: int = 128, layers: int = 1,
                 dropout: float = 0.5):
        super().__init__()
        dims = [fin] + [hidden] * layers
        self.lins = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = torch.nn.Linear(dims[-1], k)
        self.adj, self.dropout = adj_norm, dropout

    def forward(self, x: Tensor) -> Tensor:
        for i, lin in enumerate(self.lins):
            x = self.adj @ (torch.sparse.mm(x, lin.weight.t()) + lin.bias if x.is_sparse_csr else lin(x))
            x = torch.nn.functional.dropout(torch.selu(x), self.dropout, self.training)
        return self.out(x)


def gcn_adj(edge_index: Tensor, n: int) -> SparseTensor:
    adj = SparseTensor(row=edge_index[0], col=edge_index[1], sparse_sizes=(n, n))
    return gcn_norm(adj, add_self_loops=True)


def train(x: Tensor, adj, k: int, *, gamma: float = 40.0, hidden: int = 128, layers: int = 1,
          dropout: float = 0.5, epochs: int = 300, lr: float = 1e-3, seed: int = 0, n_init: int = 3,
          temperature: float = 1.0, encoder: str = "mlp", enc_adj: Optional[SparseTensor] = None,
          loss_fn=None, select=None):
    """Returns ``(labels, final_loss, seconds)`` of the best run of ``n_init``: lowest final loss,
    or highest ``select(labels)`` when a label-free selection score is given. ``loss_fn(s)``
    replaces the relaxed Ncut of ``adj``; ``encoder="gcn"`` uses :class:`GCNHead` on ``enc_adj``."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    if loss_fn is None:
        loss_fn = lambda s: relaxed_ncut_loss(s, adj, gamma=gamma)  # noqa: E731
    best = (None, float("inf"), -float("inf"))
    for _ in range(n_init):
        if encoder == "gcn":
            head = GCNHead(x.size(1), k, enc_adj, hidden, layers, dropout)
        else:
            head = Head(x.size(1), k, hidden, layers, dropout)
        opt = torch.optim.Adam(head.parameters(), lr=lr)
        for _ in range(epochs):
            head.train()
            opt.zero_grad()
            s = (head(x) / temperature).softmax(-1)
            loss_fn(s).loss.backward()
            opt.step()
        head.eval()
        with torch.no_grad():
            s = (head(x) / temperature).softmax(-1)
            final = float(loss_fn(s).loss)
        labels = s.argmax(-1)
        score = select(labels) if select is not None else -final
        if score > best[2]:
            best = (labels, final, score)
    return best[0], best[1], time.perf_counter() - start


def regularized_ncut_loss(s: Tensor, adj: SparseTensor, tau: float, gamma: float):
    """Relaxed Ncut of W + tau/N 11^T (Qin-Rohe regularization), from the additive statistics:
    degrees d + tau, and the rank-one term's quadratic form tau/N (1^T s_j)^2 in the cut."""
    from neuncut_pyg.loss import NcutStatistics, ncut_loss_from_statistics, ncut_statistics

    n = s.size(0)
    deg = adj.sum(1).to(s.dtype) + tau
    st = ncut_statistics(s, adj, deg=deg)
    cut_num = st.cut_num - tau / n * s.sum(0).pow(2)
    return ncut_loss_from_statistics(NcutStatistics(cut_num, st.vol, st.gram), gamma)


def scores(labels: Tensor, data, adj: Optional[SparseTensor] = None) -> Dict[str, float]:
    """Label-free scores (graph Ncut / modularity, affinity Ncut) and, to report only, NMI/ACC."""
    out = evaluate_clustering(labels, data.edge_index, y_true=data.y)
    res = {"Ncut": out["Ncut"], "Mod": out["Modularity"], "NMI": out["NMI"], "ACC": out["ACC"],
           "sizes_min": float(np.bincount(labels.numpy(), minlength=int(data.y.max()) + 1).min())}
    if adj is not None:
        res["affNcut"] = normalized_cut(labels, adj)
    return res


def fmt(d: Dict[str, float]) -> str:
    return " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items())


def kernel_ncut_loss(s: Tensor, xn: Tensor, gamma: float):
    """Relaxed Ncut of the linear-kernel affinity W = Xn Xn^T (non-negative for non-negative
    features), never formed: W S = Xn (Xn^T S), d = Xn (Xn^T 1); O(N F k) per step."""
    from neuncut_pyg.loss import NcutStatistics, ncut_loss_from_statistics

    deg = xn @ xn.sum(0)
    ds = deg.unsqueeze(-1) * s
    xts = xn.t() @ s  # [F, k]
    cut_num = (ds * s).sum(0) - xts.pow(2).sum(0)
    return ncut_loss_from_statistics(NcutStatistics(cut_num, ds.sum(0), ds.t() @ s), gamma)
