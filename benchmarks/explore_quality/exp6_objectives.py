"""Experiment 6: the objective the MLP head (on row-l2 A_hat^8 X, lr 1e-2, 300 epochs, dropout 0.5,
n_init 1, seed 0) is trained on:
  kernel-ncut(gamma)   relaxed Ncut of the linear kernel W = Xn Xn^T of the propagated features
                       (the affinity of exp3's kernel-spectral runs), never formed (O(NFk))
  modularity           neuncut_pyg.relaxed_modularity_loss on the graph (DMoN's objective,
                       volume-based collapse regularizer, weight 1)
Label-free scores: graph Ncut and graph modularity of the argmax partition; NMI/ACC reported only.
"""
import sys
import torch
from common import affinity, fmt, kernel_ncut_loss, l2_rows, load, propagate, scores, train
from neuncut_pyg.loss import relaxed_modularity_loss

torch.set_num_threads(1)
name = sys.argv[1]
data = load(name)
n, k = data.num_nodes, int(data.y.max()) + 1
graph = affinity(data.edge_index, n)
xp = l2_rows(propagate(data.x, data.edge_index, 8, n))
runs = {f"kernel-ncut gamma={g:g}": (lambda s, g=g: kernel_ncut_loss(s, xp, g)) for g in [5.0, 20.0, 40.0]}
runs["modularity"] = lambda s: relaxed_modularity_loss(s, graph)
for label, fn in runs.items():
    labels, loss, sec = train(xp, graph, k, n_init=1, lr=1e-2, seed=0, loss_fn=fn)
    print(f"{name} {label} loss={loss:.3f} {fmt(scores(labels, data))} t={sec:.1f}", flush=True)
