"""Experiment 8: warm start. The relaxed Ncut is non-convex and NeuNcut's random starts end in
partitions with *higher* graph Ncut than balanced ones that exist (exp3, CiteSeer). Start the
head from a label-free partition instead, then minimize the relaxed Ncut of the graph:

  1. init partition: k-means (10 restarts) on row-l2 A_hat^K X, or spectral clustering on the
     linear kernel of those rows (exp3's "kernel-spectral"; argv[4] = kmeans | spectral);
  2. 100 epochs of cross-entropy of the head to that partition (lr 1e-2);
  3. 300 epochs of the relaxed Ncut of the graph, gamma 40 (lr 1e-3 gcn / 1e-2 mlp).

Heads: NeuNcut's default GCN head on raw features, or an MLP on row-l2 A_hat^K X. Seed 0.
Label-free scores (graph Ncut, modularity) after step 1's k-means and after step 3.
"""
import sys
import numpy as np
import torch
from sklearn.cluster import KMeans
from exp3_ceiling_kmeans_spectral import kernel_spectral
from common import GCNHead, Head, affinity, fmt, gcn_adj, l2_rows, load, propagate, scores
from neuncut_pyg.loss import relaxed_ncut_loss

torch.set_num_threads(1)
name = sys.argv[1]
steps_grid = [int(v) for v in sys.argv[2].split(",")] if len(sys.argv) > 2 else [4, 8]
encs = sys.argv[3].split(",") if len(sys.argv) > 3 else ["gcn", "mlp"]
init_method = sys.argv[4] if len(sys.argv) > 4 else "kmeans"
data = load(name)
n, k = data.num_nodes, int(data.y.max()) + 1
graph = affinity(data.edge_index, n)
enc_adj = gcn_adj(data.edge_index, n)
for steps in steps_grid:
    xn = l2_rows(propagate(data.x, data.edge_index, steps, n))
    if init_method == "kmeans":
        init = KMeans(k, n_init=10, random_state=0).fit_predict(xn.double().numpy())
    else:
        init = kernel_spectral(xn.double().numpy(), k)
    init = torch.from_numpy(np.asarray(init)).long()
    print(f"{name} K={steps} {init_method} init: {fmt(scores(init, data))}", flush=True)
    for enc in encs:
        torch.manual_seed(0)
        x = data.x.to_sparse_csr() if enc == "gcn" else xn
        head = GCNHead(x.size(1), k, enc_adj) if enc == "gcn" else Head(x.size(1), k)
        opt = torch.optim.Adam(head.parameters(), lr=1e-2)
        for _ in range(100):
            head.train(); opt.zero_grad()
            torch.nn.functional.cross_entropy(head(x), init).backward()
            opt.step()
        head.eval()
        with torch.no_grad():
            distilled = head(x).argmax(-1)
        opt = torch.optim.Adam(head.parameters(), lr=1e-3 if enc == "gcn" else 1e-2)
        for _ in range(300):
            head.train(); opt.zero_grad()
            relaxed_ncut_loss(head(x).softmax(-1), graph, gamma=40.0).loss.backward()
            opt.step()
        head.eval()
        with torch.no_grad():
            s = head(x).softmax(-1)
            loss = float(relaxed_ncut_loss(s, graph, gamma=40.0).loss)
        print(f"{name} K={steps} init={init_method} enc={enc} distilled: {fmt(scores(distilled, data))}", flush=True)
        print(f"{name} K={steps} init={init_method} enc={enc} +ncut loss={loss:.3f}: {fmt(scores(s.argmax(-1), data))}", flush=True)
