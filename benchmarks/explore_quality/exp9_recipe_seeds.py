"""Experiment 9: the warm-start recipe over 5 seeds, every choice label-free.

For each seed:
  1. K (propagation steps) from {2, 4, 8, 16}: the K whose kernel-spectral partition (spectral
     clustering of the linear kernel of row-l2 A_hat^K X; k-means seeded by the seed) has the
     highest graph modularity;
  2. NeuNcut's default GCN head (1 layer 128, SELU, dropout .5; raw features) distilled to that
     partition: 100 epochs of cross-entropy, Adam 1e-2;
  3. 300 epochs of the relaxed Ncut of the graph, gamma 40, Adam 1e-3 (NeuNcut's training).
Reported: label-free Ncut / modularity and NMI / ACC (labels only read here) of the init partition
and of the trained head, and seconds.
"""
import sys
import time
import numpy as np
import torch
from common import GCNHead, affinity, gcn_adj, l2_rows, load, propagate, scores
from exp3_ceiling_kmeans_spectral import kernel_spectral
from neuncut_pyg.loss import relaxed_ncut_loss
from neuncut_pyg.metrics import modularity

torch.set_num_threads(1)
name = sys.argv[1]
seeds = range(int(sys.argv[2]) if len(sys.argv) > 2 else 5)
data = load(name)
n, k = data.num_nodes, int(data.y.max()) + 1
graph = affinity(data.edge_index, n)
enc_adj = gcn_adj(data.edge_index, n)
x = data.x.to_sparse_csr()
rows = []
for seed in seeds:
    start = time.perf_counter()
    cands = {}
    for steps in [2, 4, 8, 16]:
        xn = l2_rows(propagate(data.x, data.edge_index, steps, n)).double().numpy()
        part = np.asarray(kernel_spectral(xn, k, seed=seed))
        cands[steps] = (modularity(part, data.edge_index), part)
    steps = max(cands, key=lambda s: cands[s][0])
    init = torch.from_numpy(cands[steps][1]).long()
    torch.manual_seed(seed)
    head = GCNHead(x.size(1), k, enc_adj)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(100):
        head.train(); opt.zero_grad()
        torch.nn.functional.cross_entropy(head(x), init).backward(); opt.step()
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    for _ in range(300):
        head.train(); opt.zero_grad()
        relaxed_ncut_loss(head(x).softmax(-1), graph, gamma=40.0).loss.backward(); opt.step()
    head.eval()
    with torch.no_grad():
        s = head(x).softmax(-1)
        loss = float(relaxed_ncut_loss(s, graph, gamma=40.0).loss)
    sec = time.perf_counter() - start
    a, b = scores(init, data), scores(s.argmax(-1), data)
    rows.append((a, b, loss, sec))
    print(f"{name} seed={seed} K={steps} (mods {', '.join(f'{s}:{m:.3f}' for s, (m, _) in cands.items())}) "
          f"init Ncut={a['Ncut']:.3f} Mod={a['Mod']:.3f} NMI={a['NMI']:.3f} ACC={a['ACC']:.3f} | "
          f"trained loss={loss:.3f} Ncut={b['Ncut']:.3f} Mod={b['Mod']:.3f} NMI={b['NMI']:.3f} ACC={b['ACC']:.3f} "
          f"t={sec:.1f}", flush=True)
for label, idx in [("init", 0), ("trained", 1)]:
    vals = {m: np.array([r[idx][m] for r in rows]) for m in ["Ncut", "Mod", "NMI", "ACC"]}
    print(f"{name} {label} mean: " + " ".join(f"{m}={v.mean():.3f}±{v.std():.3f}" for m, v in vals.items()))
print(f"{name} seconds mean {np.mean([r[3] for r in rows]):.1f}")
