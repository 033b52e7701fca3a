r"""NeuNcut trained data-parallel over torch.distributed, on a synthetic planted partition.

Run with torchrun, one process per rank (CPU, gloo)::

    torchrun --nproc_per_node 2 examples/distributed.py
    torchrun --nproc_per_node 2 examples/distributed.py --out runs/ddp   # + one checkpoint, from rank 0

or as a plain script, which is the single-process run of the same training::

    python examples/distributed.py

Every rank builds the same graph (:func:`neuncut_pyg.generators.planted_partition_graph`, a
seeded generator) and calls ``NeuNcut.fit(..., batch_size=B, distributed=True)``: each step, the
``B`` seed nodes are split over the ranks (``B / R`` each, drawn from the rank's shard of a
per-epoch permutation), each rank computes its seeds' terms of the full graph's normalized-cut
statistics, the statistics are all-reduced (with gradients through the reduction) before the
ratio is taken, and DDP averages the gradients; the step is the one a single process would take
on all ``B`` seeds (``tests/test_distributed.py`` checks it to 1e-5). The two runs below differ
only in the random draws (which seeds share a step, which neighbours are sampled, the dropout
masks), so their scores agree up to that noise. Rank 0 prints the table and writes the checkpoint.

Measured with the defaults (4,000 nodes, 8 communities of Zipf sizes, average degree 12,
mixing 0.3, 32 noisy features; 20 epochs x 8 steps of 512 seeds, 2 runs, the lower-loss one
kept; 2 busy CPU cores, 1 torch thread per process)::

    processes  NMI    ACC    ARI    Ncut   Modularity  Conductance  loss   seconds
    1          0.751  0.905  0.794  2.784  0.449       0.348        2.819  27.3
    2          0.751  0.905  0.796  2.797  0.449       0.350        2.817  31.0

Runs' final losses: 2.819 and 3.622 in one process, 2.817 and 3.512 in two; the planted
partition's Ncut is 2.451. On 2 cores the two processes share the machine (and pay for
start-up and the collectives), so the wall time does not drop: what more processes buy is
more machines' cores and memory.

Across machines, start the same command on each with torchrun's rendezvous flags, e.g. on 2
machines of 4 processes each::

    torchrun --nnodes 2 --nproc_per_node 4 --rdzv_backend c10d \
        --rdzv_endpoint HOST0:29400 --rdzv_id neuncut examples/distributed.py --backend gloo

The example trains on CPU, so the backend is gloo on any number of machines.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from datetime import timedelta
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from neuncut_pyg.checkpoint import save_checkpoint_on_main  # noqa: E402
from neuncut_pyg.distributed import get_world_size, is_main_process  # noqa: E402
from neuncut_pyg.generators import planted_partition_graph  # noqa: E402
from neuncut_pyg.metrics import evaluate_clustering  # noqa: E402
from neuncut_pyg.models import NeuNcut  # noqa: E402

COLUMNS = ["NMI", "ACC", "ARI", "Ncut", "Modularity", "Conductance", "loss", "seconds"]

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
# Without pyg-lib (not on PyPI) PyG samples with its Python NeighborSampler and says so per loader.
warnings.filterwarnings("ignore", message="Using 'NeighborSampler' without a 'pyg-lib'")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="NeuNcut, data-parallel over torch.distributed (run with torchrun).")
    parser.add_argument("--nodes", type=int, default=4000, help="nodes of the planted partition (default: 4000)")
    parser.add_argument("--communities", type=int, default=8, help="planted communities = clusters (default: 8)")
    parser.add_argument("--avg-degree", type=float, default=12.0, help="average degree (default: 12)")
    parser.add_argument("--mixing", type=float, default=0.3,
                        help="expected fraction of a node's edges leaving its community (default: 0.3)")
    parser.add_argument("--features", type=int, default=32, help="feature dimension (default: 32)")
    parser.add_argument("--feature-noise", type=float, default=3.0,
                        help="feature noise scale; centers are about sqrt(2F) = 8 apart (default: 3)")
    parser.add_argument("--epochs", type=int, default=None, help="passes over the nodes (default: 20, 2 with --quick)")
    parser.add_argument("--batch-size", type=int, default=512,
                        help="seed nodes per step over ALL processes (default: 512)")
    parser.add_argument("--num-neighbors", type=int, nargs="+", default=[10],
                        help="neighbours sampled per GNN layer (default: 10 for the one GCN layer)")
    parser.add_argument("--n-init", type=int, default=None, help="runs, the lowest-loss kept (default: 2, 1 with --quick)")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default: 1e-2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the graph and of the training (default: 0)")
    parser.add_argument("--out", type=Path, default=None, help="write a checkpoint here (rank 0 only)")
    parser.add_argument("--backend", default="gloo", help="torch.distributed backend (default: gloo)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default: 1)")
    parser.add_argument("--quick", action="store_true", help="1,000 nodes, 2 epochs, 1 run: a smoke test")
    parser.add_argument("--progress", action="store_true", help="show tqdm progress bars (rank 0)")
    args = parser.parse_args(argv)
    if args.quick:
        args.nodes = min(args.nodes, 1000)
    args.epochs = args.epochs if args.epochs is not None else (2 if args.quick else 20)
    args.n_init = args.n_init if args.n_init is not None else (1 if args.quick else 2)
    for name in ("nodes", "communities", "epochs", "batch_size", "n_init", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def format_table(rows: List[dict]) -> str:
    lines = [f"{'processes':<11}" + "".join(f"{c:>13}" for c in COLUMNS)]
    for row in rows:
        cells = [f"{row[c]:.1f}" if c == "seconds" else f"{row[c]:.3f}" for c in COLUMNS]
        lines.append(f"{row['processes']:<11}" + "".join(f"{cell:>13}" for cell in cells))
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1  # torchrun sets WORLD_SIZE, RANK, MASTER_*
    if launched:
        dist.init_process_group(args.backend, timeout=timedelta(minutes=10))
    try:
        world = get_world_size()
        data = planted_partition_graph(args.nodes, args.communities, args.avg_degree, mixing=args.mixing,
                                       num_features=args.features, feature_noise=args.feature_noise, seed=args.seed)
        if is_main_process():
            print(f"planted partition: {data.num_nodes} nodes, {data.num_edges // 2} edges, "
                  f"{args.communities} communities, mixing {args.mixing}; {world} process(es), "
                  f"{args.batch_size} seeds per step ({-(-args.batch_size // world)} per process)", flush=True)

        start = time.perf_counter()
        model = NeuNcut(args.features, args.communities)
        model.fit(data, epochs=args.epochs, lr=args.lr, n_init=args.n_init, seed=args.seed,
                  batch_size=args.batch_size, num_neighbors=args.num_neighbors,
                  progress=args.progress, distributed=world > 1)
        seconds = time.perf_counter() - start

        if is_main_process():
            labels = model.predict(data)
            scores = evaluate_clustering(labels, data.edge_index, y_true=data.y)
            planted = evaluate_clustering(data.y, data.edge_index)
            row = dict(scores, loss=model.objective_, seconds=seconds, processes=str(world))
            print(f"  runs' final losses: {', '.join(f'{o:.4f}' for o in model.init_objectives_)}; "
                  f"planted partition's Ncut: {planted['Ncut']:.3f}")
            print()
            print(format_table([row]))
        if args.out is not None:
            path = save_checkpoint_on_main(args.out, model, vars(args) | {"out": str(args.out), "world_size": world},
                                           [str(i) for i in range(data.num_nodes)])
            if is_main_process():
                print(f"\ncheckpoint written to {path}")
    finally:
        if launched:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
