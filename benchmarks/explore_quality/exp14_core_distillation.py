"""Experiment 14: fit the network to the *core* of each start cluster only, then the relaxed Ncut.

For each seed: the spectral start (`smoothed_feature_clustering`, as NeuNcut.fit computes it);
each node's margin on the chosen depth's embedding (distance to the nearest other centre minus
to its own); then for each fraction f, NeuNcut's default GCN head is fitted by cross-entropy to
the f most-margin share of every cluster only (`partition_core`; Adam lr 1e-2, STEPS steps,
WEIGHT_DECAY), and trained on the relaxed Ncut for 300 epochs from there (fit(warm_start=True)).
Prints label-free scores (final loss, Ncut, modularity) and, only to report, NMI / ACC.

usage: python exp14_core_distillation.py NAME SEEDS FRACTIONS STEPS WEIGHT_DECAY
       e.g. Cora 0,1,2 0.1,0.2,0.3,0.5,1.0 200 5e-4
"""
import sys

import torch
import torch.nn.functional as F
from common import load

from neuncut_pyg import NeuNcut
from neuncut_pyg.baselines import centre_margins, feature_spectral_embedding, partition_core, smoothed_feature_clustering
from neuncut_pyg.metrics import clustering_accuracy, modularity, nmi, normalized_cut

torch.set_num_threads(1)
name, seeds, fracs = sys.argv[1], [int(a) for a in sys.argv[2].split(",")], [float(a) for a in sys.argv[3].split(",")]
steps, weight_decay = int(sys.argv[4]), float(sys.argv[5])
d = load(name)
y, k = d.y.numpy(), int(d.y.max()) + 1


def report(labels, tag, extra=""):
    print(f"{name} {tag}: mod={modularity(labels, d.edge_index):.4f} nmi={nmi(y, labels):.3f} "
          f"acc={clustering_accuracy(y, labels):.3f} ncut={normalized_cut(labels, d.edge_index):.3f} {extra}", flush=True)


for seed in seeds:
    start, smoothed = smoothed_feature_clustering(d.x, d.edge_index, k, seed=seed, return_features=True)
    report(start.labels, f"s{seed} start K={start.steps}")
    margins = centre_margins(feature_spectral_embedding(smoothed, k, seed=seed), start.labels)
    target = torch.from_numpy(start.labels).long()
    for frac in fracs:
        core = torch.from_numpy(partition_core(start.labels, margins, frac))
        torch.manual_seed(seed)
        model = NeuNcut(d.num_features, k, encoder="gcn")
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=weight_decay)
        for _ in range(steps):
            model.train()
            optimizer.zero_grad()
            s = model(d.x, d.edge_index)
            F.nll_loss(torch.log(s[core] + 1e-12), target[core]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            report(model(d.x, d.edge_index).argmax(1).numpy(), f"s{seed} frac{frac} self-trained")
        model.fit(d, epochs=300, seed=seed, progress=False, n_init=1, warm_start=True)
        report(model.predict(d).numpy(), f"s{seed} frac{frac} +ncut", f"loss={model.loss_history_.loss[-1]:.4f}")
