"""Experiment 1: propagation steps K x feature normalization x affinity (graph / graph + kNN).

MLP head (1 layer, 128, SELU, dropout 0.5) on A_hat^K X, gamma 40, 300 epochs, lr 1e-3,
n_init 3 (lowest final loss kept), seed 0. Label-free scores: Ncut and modularity of the argmax
partition on the *original* graph. NMI/ACC are only printed.
"""
import sys
import torch
from common import affinity, fmt, l2_rows, load, propagate, scores, train

torch.set_num_threads(1)
datasets = sys.argv[1:] or ["cora", "citeseer"]
for name in datasets:
    data = load(name)
    n, k = data.num_nodes, int(data.y.max()) + 1
    graph = affinity(data.edge_index, n)
    for norm in ["raw", "l2"]:
        x0 = data.x if norm == "raw" else l2_rows(data.x)
        for steps in [2, 4, 8, 16]:
            xp = propagate(x0, data.edge_index, steps, n)
            for aff_name in ["graph", "graph+knn"]:
                adj = graph if aff_name == "graph" else affinity(data.edge_index, n, knn_x=xp, knn_k=10)
                labels, loss, sec = train(xp, adj, k, gamma=40.0)
                print(f"{name} norm={norm} K={steps} aff={aff_name} loss={loss:.3f} {fmt(scores(labels, data))} t={sec:.1f}",
                      flush=True)
