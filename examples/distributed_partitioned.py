r"""NeuNcut trained on a graph cut into partitions, one per process, on PyG's distributed engine.

On one machine, 2 processes (gloo for the gradients, RPC on localhost for the sampling)::

    torchrun --nproc_per_node 2 examples/distributed_partitioned.py --quick

Rank 0 makes a planted partition (:func:`neuncut_pyg.generators.planted_partition_graph`) and
cuts it into as many partitions as there are processes (:func:`neuncut_pyg.partition.
partition_graph`, into ``--root``, with the spectral start computed on the whole graph; a root
already holding them is reused); then every rank loads only its own partition and trains
(``NeuNcut.fit_partitioned``): each step every rank draws seeds from its partition,
``DistNeighborLoader`` samples their neighbourhoods (over RPC where they cross into the other
partition), the ranks' normalized-cut statistics are combined before the ratio is taken and DDP
averages the gradients. ``predict_partitioned`` labels every node, each rank its own, and
gathers. For comparison the same training then runs on the whole graph (``--compare``:
data-parallel over the same processes, or full batch), which this small graph allows. Rank 0
prints NMI, accuracy and the discrete normalized cut of both against the planted communities,
and every rank's peak memory after the partitioned run. ``docs/partitioned.md`` explains the
method and gives the measured runs.

This needs pyg-lib (PyG's distributed sampler runs its operators)::

    pip install pyg-lib -f https://data.pyg.org/whl/torch-${TORCH}.html   # TORCH e.g. 2.13.0+cpu

Across machines, one partition per machine: cut the graph once on a machine that holds it
whole, make the directory visible to every machine (a shared file system, or a copy per machine
of the whole directory: each rank reads ``part_<rank>`` and the small shared files), then start
the same command on each machine::

    python examples/distributed_partitioned.py --partition-only --parts 4 --root /shared/parts
    # on machine i of 4 (rank 0's machine is HOST0; ports 29500 and 29501 open there):
    torchrun --nnodes 4 --nproc-per-node 1 --node-rank i --master-addr HOST0 --master-port 29500 \
        examples/distributed_partitioned.py --root /shared/parts --parts 4 --compare none

The gradients go through the process group at ``MASTER_ADDR:MASTER_PORT``; the samplers' RPC
through ``MASTER_PORT + 1`` (PyG's convention; ``fit_partitioned(rpc_port=...)`` changes it).

``--parts-method auto`` uses PyG's METIS where it runs and balanced random parts otherwise:
pyg-lib's CPU wheels may carry a METIS built for AVX-512, which dies on other CPUs (it does on
the development machines, where this example therefore cuts at random).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings
from datetime import timedelta
from pathlib import Path
from typing import List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from neuncut_pyg.distributed import get_world_size, is_main_process  # noqa: E402
from neuncut_pyg.generators import planted_partition_graph  # noqa: E402
from neuncut_pyg.metrics import evaluate_clustering  # noqa: E402
from neuncut_pyg.models import NeuNcut  # noqa: E402
from neuncut_pyg.partition import close_partitions, partition_graph, require_pyg_lib  # noqa: E402

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
warnings.filterwarnings("ignore", message="You are using a Backend")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="NeuNcut on a partitioned graph (run with torchrun).")
    parser.add_argument("--root", type=Path, default=REPO / "runs" / "partitions",
                        help="the partition directory (default: runs/partitions)")
    parser.add_argument("--nodes", type=int, default=20000, help="nodes of the planted partition (default: 20000)")
    parser.add_argument("--communities", type=int, default=8, help="planted communities = clusters (default: 8)")
    parser.add_argument("--avg-degree", type=float, default=12.0, help="average degree (default: 12)")
    parser.add_argument("--mixing", type=float, default=0.3, help="share of a node's edges leaving its community")
    parser.add_argument("--features", type=int, default=32, help="feature dimension (default: 32)")
    parser.add_argument("--feature-noise", type=float, default=3.0, help="feature noise scale (default: 3)")
    parser.add_argument("--epochs", type=int, default=None, help="passes over the nodes (default: 5, 2 with --quick)")
    parser.add_argument("--batch-size", type=int, default=1024, help="seed nodes per step over ALL processes")
    parser.add_argument("--num-neighbors", type=int, nargs="+", default=[10],
                        help="neighbours sampled per GNN layer (default: 10 for the one GCN layer)")
    parser.add_argument("--n-init", type=int, default=1, help="runs, the lowest-loss kept (default: 1)")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default: 1e-2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the graph and of the training (default: 0)")
    parser.add_argument("--parts", type=int, default=None,
                        help="partitions to cut with --partition-only (default: 2); under torchrun, use the "
                             "partitions in --root as they are instead of cutting one per process")
    parser.add_argument("--parts-method", choices=["auto", "metis", "random"], default="auto",
                        help="METIS, balanced random parts, or METIS where it runs (default: auto)")
    parser.add_argument("--no-start", action="store_true",
                        help="skip the spectral start at partition time (training then starts at random)")
    parser.add_argument("--compare", choices=["data-parallel", "full-batch", "none"], default="data-parallel",
                        help="also train on the whole graph: data-parallel over the same processes with the same "
                             "settings, or full batch (fit's defaults) on every rank (default: data-parallel)")
    parser.add_argument("--partition-only", action="store_true", help="cut the graph into --root and stop")
    parser.add_argument("--backend", default="gloo", help="torch.distributed backend (default: gloo)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default: 1)")
    parser.add_argument("--quick", action="store_true", help="2,000 nodes, 2 epochs: a smoke test")
    parser.add_argument("--progress", action="store_true", help="show tqdm progress bars (rank 0)")
    args = parser.parse_args(argv)
    if args.quick:
        args.nodes = min(args.nodes, 2000)
        args.batch_size = min(args.batch_size, 256)
        if args.root == REPO / "runs" / "partitions":
            args.root = REPO / "runs" / "partitions-quick"
    args.epochs = args.epochs if args.epochs is not None else (2 if args.quick else 5)
    for name in ("nodes", "communities", "epochs", "batch_size", "n_init", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def planted_graph(args: argparse.Namespace):
    """The example's planted partition (seeded: the same graph on every call)."""
    return planted_partition_graph(args.nodes, args.communities, args.avg_degree, mixing=args.mixing,
                                   num_features=args.features, feature_noise=args.feature_noise, seed=args.seed)


def make_partitions(args: argparse.Namespace, num_parts: int) -> None:
    """Cuts the planted graph into ``num_parts`` partitions in ``args.root`` (kept if there)."""
    data = planted_graph(args)
    start = time.perf_counter()
    options = dict(num_clusters=None if args.no_start else args.communities, seed=args.seed, overwrite=True)
    method = "metis" if args.parts_method in ("auto", "metis") else "random"
    try:
        meta = partition_graph(data, num_parts, args.root, parts=method, **options)
    except RuntimeError as err:
        if args.parts_method != "auto" or "cannot run METIS" not in str(err):
            raise
        print(f"METIS is unavailable here ({str(err).split(': ', 1)[1].split('.')[0]}); cutting at random")
        method = "random"
        meta = partition_graph(data, num_parts, args.root, parts=method, **options)
    sizes = ", ".join(f"{p['num_nodes']:,} nodes / {p['num_edges']:,} edges" for p in meta["parts"])
    print(f"{data.num_nodes:,} nodes, {data.num_edges // 2:,} edges cut into {num_parts} ({method}) in "
          f"{time.perf_counter() - start:.1f} s: {sizes} -> {args.root}", flush=True)


def fit_partitioned(args: argparse.Namespace) -> Tuple[torch.Tensor, float, float]:
    """Every node's labels from partitioned training, its seconds, and this rank's peak RSS (GiB)."""
    start = time.perf_counter()
    model = NeuNcut(args.features, args.communities)
    model.fit_partitioned(args.root, epochs=args.epochs, lr=args.lr, n_init=args.n_init, seed=args.seed,
                          batch_size=args.batch_size, num_neighbors=args.num_neighbors, progress=args.progress)
    labels = model.predict_partitioned(args.root, batch_size=args.batch_size)
    return labels, time.perf_counter() - start, peak_rss_gib()


def fit_compared(args: argparse.Namespace, data) -> Tuple[torch.Tensor, float]:
    """Every node's labels and the seconds of the same training on the whole graph: data-parallel
    over the same processes (every rank holds the graph), or full batch on each rank."""
    start = time.perf_counter()
    model = NeuNcut(args.features, args.communities)
    if args.compare == "data-parallel":
        model.fit(data, epochs=args.epochs, lr=args.lr, n_init=args.n_init, seed=args.seed, batch_size=args.batch_size,
                  num_neighbors=args.num_neighbors, progress=args.progress, distributed=True)
    else:
        model.fit(data, seed=args.seed, progress=args.progress)
    return model.labels_, time.perf_counter() - start


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        require_pyg_lib()
    except ImportError as err:
        print(err, file=sys.stderr)
        return 2
    if args.partition_only:
        make_partitions(args, args.parts or 2)
        return 0
    if int(os.environ.get("WORLD_SIZE", "1")) < 2:
        print("run with torchrun and at least 2 processes, e.g. torchrun --nproc_per_node 2 "
              "examples/distributed_partitioned.py --quick", file=sys.stderr)
        return 2
    dist.init_process_group(args.backend, timeout=timedelta(minutes=30))
    try:
        world = get_world_size()
        if is_main_process() and args.parts is None:
            make_partitions(args, world)
        dist.barrier()  # the other ranks wait for the partitions

        labels, seconds, peak = fit_partitioned(args)
        peaks = [None] * world
        dist.all_gather_object(peaks, peak)
        rows = [("partitioned", labels, seconds)]
        if args.compare != "none":
            # The demo's graph is small enough for every rank to hold it whole (a real partitioned
            # graph is not): the same seeded generator gives every rank the same graph.
            data = planted_graph(args)
            rows.append((args.compare,) + fit_compared(args, data))
        if is_main_process():
            data = planted_graph(args) if args.compare == "none" else data
            planted = evaluate_clustering(data.y, data.edge_index)
            print(f"{world} processes; planted partition's Ncut {planted['Ncut']:.3f}")
            print(f"{'training':<14} {'NMI':>6} {'ACC':>6} {'Ncut':>7} {'seconds':>8}")
            for name, found, took in rows:
                scores = evaluate_clustering(found, data.edge_index, y_true=data.y)
                print(f"{name:<14} {scores['NMI']:>6.3f} {scores['ACC']:>6.3f} {scores['Ncut']:>7.3f} {took:>8.1f}")
            print("peak RSS per rank after partitioned training (GiB): " + ", ".join(f"{p:.2f}" for p in peaks))
    finally:
        close_partitions()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
