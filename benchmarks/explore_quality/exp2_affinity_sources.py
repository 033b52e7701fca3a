"""Experiment 2: which affinity the loss sees x propagation steps K x feature normalization.

Affinities: the graph; graph + kNN(10, cosine, self-tuning weights) of A_hat^K X; the kNN graph
alone. MLP head (1 layer 128, SELU, dropout 0.5) on A_hat^K X scaled to mean row norm 1, gamma
40, 300 epochs, lr 1e-2 (also 1e-3 for the graph-only K=2 row), n_init 1, seed 0.
Label-free scores printed: Ncut and modularity of the argmax partition on the original graph,
and the Ncut on the affinity trained on (affNcut).
"""
import sys
import torch
from common import affinity, fmt, l2_rows, load, propagate, scores, train, unit_scale

torch.set_num_threads(1)
datasets = sys.argv[1:] or ["cora", "citeseer"]
for name in datasets:
    data = load(name)
    n, k = data.num_nodes, int(data.y.max()) + 1
    graph = affinity(data.edge_index, n)
    for norm in ["l2", "raw"]:
        x0 = data.x if norm == "raw" else l2_rows(data.x)
        for steps in [2, 8]:
            xp = unit_scale(propagate(x0, data.edge_index, steps, n))
            for aff_name in ["graph", "graph+knn", "knn"]:
                if aff_name == "graph":
                    adj = graph
                else:
                    adj = affinity(data.edge_index, n, knn_x=xp, knn_k=10, graph_weight=0.0 if aff_name == "knn" else 1.0)
                for lr in ([1e-3, 1e-2] if (aff_name == "graph" and steps == 2) else [1e-2]):
                    labels, loss, sec = train(xp, adj, k, gamma=40.0, n_init=1, lr=lr)
                    print(f"{name} norm={norm} K={steps} aff={aff_name} lr={lr} loss={loss:.3f} "
                          f"{fmt(scores(labels, data, adj))} t={sec:.1f}", flush=True)
