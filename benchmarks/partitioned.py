r"""Partitioned training against training on the whole graph, on one planted partition: seconds,
NMI, discrete Ncut and peak memory per rank. Writes ``benchmarks/results/partitioned.md``.

    python benchmarks/partitioned.py            # 20,000 nodes, 2 ranks (a few minutes on 2 cores)
    python benchmarks/partitioned.py --quick    # 3,000 nodes: a smoke test

Each row runs in processes of its own, so that a process's peak resident set size
(``ru_maxrss``) is its training's alone: ``partitioned`` (``NeuNcut.fit_partitioned``, 2
ranks by ``torch.distributed.run``, each loading only its partition), ``data-parallel``
(``fit(distributed=True)``, 2 ranks each holding the graph), ``mini-batch`` and ``full-batch``
(``fit`` in one process). The mini-batch rows share the settings (epochs, learning rate, seeds
per step over all ranks, fan-out, runs); full batch takes ``fit``'s defaults. The graph is cut
once beforehand (with its spectral start, so every row starts from the same kind of start), and
the labels are scored here, so that no worker holds the graph for scoring. Needs pyg-lib.
"""
from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Dict, List, Optional

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
# What a process holds before any graph: torch, PyG and this package imported.
IMPORTS_GIB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

RESULTS = REPO / "benchmarks" / "results" / "partitioned.md"
#: The rows, in table order, and their process counts.
MODES = {"partitioned": 2, "data-parallel": 2, "mini-batch": 1, "full-batch": 1}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=20000)
    parser.add_argument("--communities", type=int, default=8)
    parser.add_argument("--avg-degree", type=float, default=12.0)
    parser.add_argument("--mixing", type=float, default=0.3)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--feature-noise", type=float, default=3.0)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1024, help="seeds per step over all ranks")
    parser.add_argument("--num-neighbors", type=int, nargs="+", default=[10])
    parser.add_argument("--n-init", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--quick", action="store_true", help="3,000 nodes, 2 epochs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", choices=list(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.nodes, args.epochs, args.batch_size = min(args.nodes, 3000), min(args.epochs, 2), min(args.batch_size, 256)
    return args


def planted_graph(args: argparse.Namespace):
    return planted_partition_graph(args.nodes, args.communities, args.avg_degree, mixing=args.mixing,
                                   num_features=args.features, feature_noise=args.feature_noise, seed=args.seed)


def train(args: argparse.Namespace) -> Dict[str, object]:
    """One row's training in this process (a rank of it, for the 2-process rows)."""
    torch.set_num_threads(1)
    mode = args.worker
    settings = dict(epochs=args.epochs, lr=args.lr, n_init=args.n_init, seed=args.seed, progress=False,
                    batch_size=args.batch_size, num_neighbors=args.num_neighbors)
    model = NeuNcut(args.features, args.communities)
    start = time.perf_counter()
    if mode == "partitioned":
        model.fit_partitioned(args.work / "parts", **settings)
        labels = model.predict_partitioned(args.work / "parts", batch_size=args.batch_size)
    else:
        data = planted_graph(args)
        if mode == "full-batch":
            model.fit(data, seed=args.seed, progress=False)
        else:
            model.fit(data, distributed=mode == "data-parallel", **settings)
        labels = model.labels_
    return {"labels": labels, "seconds": time.perf_counter() - start, "init": model.init_,
            "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def worker(args: argparse.Namespace) -> int:
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if launched:
        dist.init_process_group("gloo", timeout=timedelta(minutes=30))
    try:
        row = train(args)
        peaks = [row["peak"]]
        if launched:
            peaks = [None] * get_world_size()
            dist.all_gather_object(peaks, row["peak"])
        if is_main_process():
            torch.save(dict(row, peaks=peaks), args.work / f"{args.worker}.pt")
    finally:
        if args.worker == "partitioned":
            close_partitions()
        if launched:
            dist.destroy_process_group()
    return 0


def without_out(argv: List[str]) -> List[str]:
    """``argv`` without ``--out PATH`` (the workers write no table)."""
    out, skip = [], False
    for arg in argv:
        if skip or arg == "--out":
            skip = not skip
            continue
        out.append(arg.split("=", 1)[0] == "--out" and "" or arg)
    return [arg for arg in out if arg]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(mode: str, args: argparse.Namespace, argv: List[str], work: Path) -> Dict[str, object]:
    """Runs ``mode`` in processes of its own and returns what its rank 0 saved."""
    script = [str(Path(__file__).resolve()), *argv, "--worker", mode, "--work", str(work)]
    if MODES[mode] > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(MODES[mode]),
                   "--master_addr", "127.0.0.1", "--master_port", str(free_port()), *script]
    else:
        command = [sys.executable, *script]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(command, check=True, env=env)
    return torch.load(work / f"{mode}.pt", weights_only=False)


def format_table(rows: List[Dict[str, object]]) -> str:
    lines = ["| training | processes | start | seconds | NMI | Ncut | peak RSS per rank (GiB) |",
             "|---|---:|---|---:|---:|---:|---|"]
    for row in rows:
        lines.append(f"| {row['mode']} | {len(row['peaks'])} | {row['init']} | {row['seconds']:.1f} | {row['NMI']:.3f} "
                     f"| {row['Ncut']:.3f} | {', '.join(f'{p:.2f}' for p in row['peaks'])} |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.worker is not None:
        return worker(args)
    require_pyg_lib()
    data = planted_graph(args)
    rows = []
    with tempfile.TemporaryDirectory(prefix="neuncut-partitioned-") as tmp:
        work = Path(tmp)
        # Random parts: METIS from pyg-lib's CPU wheels may need AVX-512 (docs/partitioned.md).
        partition_graph(data, 2, work / "parts", parts="random", num_clusters=args.communities, seed=args.seed)
        for mode in args.modes:
            row = launch(mode, args, without_out(argv), work)
            scores = evaluate_clustering(row["labels"], data.edge_index, y_true=data.y)
            rows.append(dict(row, mode=mode, NMI=scores["NMI"], Ncut=scores["Ncut"]))
            print(format_table(rows[-1:]).splitlines()[-1], flush=True)
    planted = evaluate_clustering(data.y, data.edge_index)
    command = "python benchmarks/partitioned.py " + " ".join(argv)
    full = "; full batch at fit's defaults" if "full-batch" in args.modes else ""
    text = "\n".join([
        "# Partitioned training against training on the whole graph",
        "",
        f"Planted partition: {data.num_nodes:,} nodes, {data.num_edges // 2:,} edges, {args.communities} communities, "
        f"mixing {args.mixing} (planted Ncut {planted['Ncut']:.3f}); cut into 2 random parts with the spectral "
        f"start; {args.epochs} epochs of {args.batch_size} seeds per step over all ranks, fan-out "
        f"{args.num_neighbors}, {args.n_init} run(s){full}. One torch thread per process, "
        f"{os.cpu_count()} CPU cores (shared with other work: seconds are indicative). A process that has "
        f"only imported torch, PyG and neuncut_pyg holds {IMPORTS_GIB:.2f} GiB; peak RSS is the process's "
        "maximum over its life (`ru_maxrss`).",
        "",
        format_table(rows),
        "",
        "Made by:",
        "",
        "```bash",
        command.strip(),
        "```",
        "",
    ])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
