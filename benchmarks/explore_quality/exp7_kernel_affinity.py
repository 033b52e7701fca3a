"""Experiment 7: the linear-kernel affinity of propagated features as (part of) the loss.

Kernel: W_f = Xn Xn^T, Xn = row-l2(A_hat^8 X) (exp3's kernel-spectral affinity; implicit).
Encoders: NeuNcut's default GCN head (raw CSR features, lr 1e-3) or an MLP on Xn (lr 1e-2);
300 epochs, dropout 0.5, n_init 1, seed 0. Losses (gamma 40 each):
  kernel         relaxed Ncut of W_f
  graph+kernel   relaxed Ncut of the graph + relaxed Ncut of W_f (sum of the two losses)
Label-free scores: graph Ncut / modularity of the argmax partition; NMI/ACC reported only.
"""
import sys
import torch
from common import affinity, fmt, gcn_adj, kernel_ncut_loss, l2_rows, load, propagate, scores, train
from neuncut_pyg.loss import relaxed_ncut_loss

torch.set_num_threads(1)
name = sys.argv[1]
encoders = sys.argv[2].split(",") if len(sys.argv) > 2 else ["gcn", "mlp"]
data = load(name)
n, k = data.num_nodes, int(data.y.max()) + 1
graph = affinity(data.edge_index, n)
xn = l2_rows(propagate(data.x, data.edge_index, 8, n))
losses = {
    "kernel": lambda s: kernel_ncut_loss(s, xn, 40.0),
    "graph+kernel": lambda s: type(relaxed_ncut_loss(s, graph, gamma=40.0))(
        *(a + b for a, b in zip(relaxed_ncut_loss(s, graph, gamma=40.0), kernel_ncut_loss(s, xn, 40.0)))),
}
for enc in encoders:
    x = data.x.to_sparse_csr() if enc == "gcn" else xn
    lr = 1e-3 if enc == "gcn" else 1e-2
    for label, fn in losses.items():
        labels, loss, sec = train(x, graph, k, n_init=1, lr=lr, seed=0, loss_fn=fn, encoder=enc,
                                  enc_adj=gcn_adj(data.edge_index, n))
        print(f"{name} enc={enc} loss={label} value={loss:.3f} {fmt(scores(labels, data))} t={sec:.1f}", flush=True)
