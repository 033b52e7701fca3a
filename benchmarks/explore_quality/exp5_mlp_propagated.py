"""Experiment 5: MLP head on row-l2-normalized A_hat^K X (the input of the kernel-spectral runs
of exp3, which reached low graph Ncut with balanced clusters), graph affinity, lr 1e-2,
300 epochs, dropout 0.5, n_init 1, seed 0; K x gamma grid.
Label-free scores: graph Ncut and modularity of the argmax partition; NMI/ACC reported only.
"""
import sys
import torch
from common import affinity, fmt, l2_rows, load, propagate, scores, train

torch.set_num_threads(1)
name = sys.argv[1]
data = load(name)
n, k = data.num_nodes, int(data.y.max()) + 1
graph = affinity(data.edge_index, n)
for steps in [4, 8, 16]:
    xp = l2_rows(propagate(data.x, data.edge_index, steps, n))
    for gamma in [40.0, 80.0, 160.0]:
        labels, loss, sec = train(xp, graph, k, gamma=gamma, n_init=1, lr=1e-2, seed=0)
        print(f"{name} K={steps} gamma={gamma:g} loss={loss:.3f} {fmt(scores(labels, data))} t={sec:.1f}", flush=True)
