"""Experiment 3 (diagnostic): how much cluster structure do propagated features carry?

No training: k-means (10 restarts) on the row-l2-normalized A_hat^K X, and spectral clustering
(Ng-Jordan-Weiss, eigsh) on the *linear kernel* affinity W = Xn Xn^T of those normalized rows
(dense N x N never formed: D^-1/2 Xn Xn^T D^-1/2 as a LinearOperator), for K in a grid, with
the input X row-l1-normalized (SSGC/AGC habit) or raw.
Label-free scores: k-means inertia is not comparable across K; we print the graph Ncut and the
Ncut of the partition on the feature kernel (kerNcut) — NMI/ACC only reported.
"""
import sys
import numpy as np
import scipy.sparse.linalg as sla
import torch
from sklearn.cluster import KMeans
from common import fmt, l2_rows, load, propagate, scores

torch.set_num_threads(1)


def kernel_ncut(labels, xn):
    """Ncut of a partition on W = Xn Xn^T (no N x N matrix)."""
    labels = np.asarray(labels)
    d = xn @ xn.sum(0)
    total = 0.0
    for j in np.unique(labels):
        idx = labels == j
        vol = d[idx].sum()
        within = np.sum(xn[idx].sum(0) ** 2)
        total += (vol - within) / vol
    return total


def kernel_spectral(xn, k, seed=0):
    d = xn @ xn.sum(0)
    dinv = 1 / np.sqrt(d)
    n = xn.shape[0]
    op = sla.LinearOperator((n, n), matvec=lambda v: dinv * (xn @ (xn.T @ (dinv * v.ravel()))), dtype=np.float64)
    _, u = sla.eigsh(op, k=k, which="LA", v0=np.random.default_rng(seed).uniform(-1, 1, n))
    u = u / np.linalg.norm(u, axis=1, keepdims=True).clip(1e-12)
    return KMeans(k, n_init=10, random_state=seed).fit_predict(u)


for name in (sys.argv[1:] or ["cora", "citeseer"]) if __name__ == "__main__" else []:
    data = load(name)
    n, k = data.num_nodes, int(data.y.max()) + 1
    for x0name in ["l1", "raw"]:
        x0 = data.x / data.x.sum(1, keepdim=True).clamp_min(1) if x0name == "l1" else data.x
        for steps in ([0, 2, 4, 8, 12, 16, 24] if name == "cora" else [2, 4, 8, 16]):
            xn = l2_rows(propagate(x0, data.edge_index, steps, n)).double().numpy()
            km = torch.from_numpy(KMeans(k, n_init=10, random_state=0).fit_predict(xn))
            sc = torch.from_numpy(kernel_spectral(xn, k))
            for meth, lab in [("kmeans", km), ("kernel-spectral", sc)]:
                print(f"{name} x0={x0name} K={steps} {meth}: {fmt(scores(lab, data))} kerNcut={kernel_ncut(lab, xn):.3f}",
                      flush=True)
