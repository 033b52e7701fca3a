"""Experiment 4: connecting the graph's components in the affinity the loss sees.

NeuNcut's default encoder (1 GCN layer 128, SELU, dropout 0.5, linear head; raw features as CSR),
gamma 40, Adam 1e-3, 300 epochs, n_init 1, seeds 0 and 1. Affinities for the loss:
  graph        the graph (= today's NeuNcut)
  reg(tau)     W + tau/N 11^T, tau = mean degree (Qin-Rohe; the regularized spectral baseline's choice)
  graph+knn    graph + kNN(10, cosine, self-tuning) of A_hat^4 X (row-l2 input)
Label-free scores: graph Ncut and graph modularity of the argmax partition. NMI/ACC reported only.
"""
import sys
import torch
from common import affinity, fmt, gcn_adj, l2_rows, load, propagate, regularized_ncut_loss, scores, train

torch.set_num_threads(1)
name = sys.argv[1]
data = load(name)
n, k = data.num_nodes, int(data.y.max()) + 1
graph = affinity(data.edge_index, n)
enc = gcn_adj(data.edge_index, n)
x = data.x.to_sparse_csr()
tau = data.edge_index.size(1) / n
xp = l2_rows(propagate(l2_rows(data.x), data.edge_index, 4, n))
gk = affinity(data.edge_index, n, knn_x=xp, knn_k=10)
variants = {
    "graph": dict(adj=graph),
    "reg": dict(adj=graph, loss_fn=lambda s: regularized_ncut_loss(s, graph, tau, 40.0)),
    "graph+knn": dict(adj=gk),
}
for seed in [0, 1]:
    for vname, kw in variants.items():
        labels, loss, sec = train(x, kw["adj"], k, gamma=40.0, n_init=1, seed=seed, encoder="gcn", enc_adj=enc,
                                  loss_fn=kw.get("loss_fn"))
        print(f"{name} seed={seed} aff={vname} loss={loss:.3f} {fmt(scores(labels, data))} t={sec:.1f}", flush=True)
