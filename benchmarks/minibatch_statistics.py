"""The EM-like alternatives of mini-batch training, side by side on one planted partition.

``NeuNcut.fit(batch_size=..., statistics=...)`` forms each batch's loss from the batch's own
estimates of the full graph's statistics (``"batch"``), or holds the volumes at a moving average
(``"running"``) or at a full inference pass per epoch (``"full"``), the batch giving the gradient
(see :class:`neuncut_pyg.train.StatisticsTracker`). Same graph, model, seed and budget for each.

    python benchmarks/minibatch_statistics.py
    python benchmarks/minibatch_statistics.py --nodes 50000 --communities 40 --epochs 20

Measured (20,000 nodes, 20 communities, mixing 0.5, feature noise 6, MLP encoder, 1,024 seeds
per batch, 10 epochs, lr 1e-2):

.. code-block:: none

    statistics   NMI     Ncut     loss     clusters
    batch        0.490   12.548   12.748   20
    running      0.050    8.511   21.467   11
    full         0.029    4.788   19.436    6
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from neuncut_pyg.generators import planted_partition_graph  # noqa: E402
from neuncut_pyg.metrics import nmi, normalized_cut  # noqa: E402
from neuncut_pyg.models import NeuNcut  # noqa: E402
from neuncut_pyg.train import STATISTICS_MODES  # noqa: E402


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20_000)
    parser.add_argument("--communities", type=int, default=20)
    parser.add_argument("--avg-degree", type=float, default=14.0)
    parser.add_argument("--mixing", type=float, default=0.5)
    parser.add_argument("--feature-noise", type=float, default=6.0)
    parser.add_argument("--encoder", default="mlp", choices=["mlp", "gcn", "sage"])
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*(pyg-lib|Sparse CSR|Sparse invariant).*")

    data = planted_partition_graph(args.nodes, args.communities, args.avg_degree, mixing=args.mixing,
                                   num_features=64, feature_noise=args.feature_noise, seed=1)
    print(f"{args.nodes:,} nodes, {data.edge_index.size(1) // 2:,} edges, {args.communities} communities, "
          f"mixing {args.mixing}; {args.encoder} encoder, {args.batch_size} seeds per batch, "
          f"{args.epochs} epochs, lr {args.lr:g}")
    print(f"{'statistics':<12}{'NMI':>8}{'Ncut':>10}{'loss':>10}{'clusters':>10}{'seconds':>10}")
    for mode in STATISTICS_MODES:
        start = time.perf_counter()
        model = NeuNcut(64, args.communities, encoder=args.encoder)
        model.fit(data, epochs=args.epochs, lr=args.lr, n_init=1, seed=args.seed, batch_size=args.batch_size,
                  statistics=mode, progress=False)
        labels = model.predict(data, batch_size=args.batch_size)
        print(f"{mode:<12}{nmi(data.y, labels):>8.3f}{normalized_cut(labels, data.edge_index):>10.3f}"
              f"{model.objective_:>10.3f}{int(labels.unique().numel()):>10}{time.perf_counter() - start:>10.1f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
