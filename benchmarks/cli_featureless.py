r"""Real graphs without features through the command line: ``neuncut fit --edges`` on the graphs
of Cora and CiteSeer (their citation edges only; the words are left out), scored against their
classes, for this checkout and, with ``--before``, for another one (an earlier commit).

Each run is the command a user types, in a subprocess:
``python -m neuncut_pyg.cli fit --edges <graph>.csv --k <classes> --seed <s> --out <dir> --quiet``
with the checkout first on ``PYTHONPATH``; the script reads the ``assignments.csv`` it writes.
Then ``neuncut assign --model <that run> --edges <graph>.csv`` on the same graph: the network's own
clusters, what a new node gets (``fit`` writes the partition it kept, which can be the start's).
Scores: NMI and ACC (Hungarian) against the classes (labels only score), the discrete k-way
normalized cut of the partition (:func:`neuncut_pyg.metrics.normalized_cut`), and the command's
wall seconds (the whole process: imports, reading, fit, writing). Isolated nodes (no edge) are not
in an edge list, so each graph is its edge list's nodes; the classes are those nodes' classes.

Usage::

    python benchmarks/cli_featureless.py                                # this checkout, seeds 0-2
    python benchmarks/cli_featureless.py --before ../old-checkout       # and an earlier one
    python benchmarks/cli_featureless.py --quick                        # smoke test: a planted graph, 20 epochs

Writes ``<out>/cli_featureless.md`` whole at the end, with the command under the table.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(REPO))

from harness import ResultsFile, command_line, settle_counts  # noqa: E402
from neuncut_pyg.data import DATA_ROOT_ENV, DatasetNotFoundError, load_planetoid  # noqa: E402
from neuncut_pyg.generators import planted_partition_graph  # noqa: E402
from neuncut_pyg.metrics import clustering_accuracy, nmi, normalized_cut  # noqa: E402


def write_edges(edge_index: torch.Tensor, path: Path) -> None:
    """One ``src,dst`` line per undirected edge (node ids as the graph numbers them)."""
    src, dst = edge_index
    keep = src < dst
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(zip(src[keep].tolist(), dst[keep].tolist()))


def run_cli(checkout: Path, edges: Path, k: int, seed: int, out: Path, extra: List[str]) -> Tuple[Dict[int, int], float]:
    """``neuncut fit`` from ``checkout`` in a subprocess: ``({node id: cluster}, seconds)``."""
    args = ["fit", "--edges", str(edges), "--k", str(k), "--seed", str(seed), "--out", str(out), "--quiet", *extra]
    return _neuncut(checkout, args, out / "assignments.csv")


def run_assign(checkout: Path, edges: Path, model: Path, out: Path) -> Tuple[Dict[int, int], float]:
    """``neuncut assign`` of the same graph with the model ``fit`` wrote: the network's own
    clusters, as new nodes would get them."""
    return _neuncut(checkout, ["assign", "--model", str(model), "--edges", str(edges), "--out", str(out)], out)


def _neuncut(checkout: Path, args: List[str], written: Path) -> Tuple[Dict[int, int], float]:
    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "neuncut_pyg.cli", *args]
    start = time.perf_counter()
    # in the checkout: ``-m`` puts the working directory first on sys.path
    done = subprocess.run(cmd, env=env, cwd=checkout, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    with written.open() as f:
        return {int(row["node_id"]): int(row["cluster"]) for row in csv.DictReader(f)}, seconds


def score(data, assignment: Dict[int, int], k: int) -> Dict[str, float]:
    nodes = torch.unique(data.edge_index)
    missing = [i for i in nodes.tolist() if i not in assignment]
    if missing:
        raise RuntimeError(f"{len(missing)} nodes of the edge list have no cluster in assignments.csv")
    pred = torch.tensor([assignment[i] for i in nodes.tolist()])
    # the edge list's nodes only: relabel them 0..n-1 for the cut
    index = torch.full((data.num_nodes,), -1, dtype=torch.long)
    index[nodes] = torch.arange(nodes.numel())
    y = data.y[nodes]
    return {"NMI": nmi(y, pred), "ACC": clustering_accuracy(y, pred),
            "Ncut": normalized_cut(pred, index[data.edge_index], num_clusters=k)}


def format_markdown(rows: List[Dict[str, object]], checkouts: Dict[str, str], command: str) -> str:
    seeds = sorted({r["seed"] for r in rows})
    lines = ["# Real graphs without features through the command line", "",
             "`neuncut fit --edges <graph>.csv --k <classes> --seed <s>` with its defaults on the graph "
             f"alone (no features); seeds {seeds}, mean ± std; NMI / ACC against the classes, discrete k-way Ncut, "
             "wall seconds of the whole command. Checkouts: "
             + "; ".join(f"**{name}** `{where}`" for name, where in checkouts.items())
             + ". Rows `<checkout>`: the `assignments.csv` that `fit` writes; rows `<checkout>: assign`: "
             "`neuncut assign --model <fit's directory> --edges <graph>.csv` on the same graph, the network's own "
             "clusters (what new nodes get). Script: `benchmarks/cli_featureless.py`.", "",
             "| graph | checkout | NMI | ACC | Ncut | seconds |", "|---|---|---:|---:|---:|---:|"]
    for graph in dict.fromkeys(r["graph"] for r in rows):
        for name in dict.fromkeys(r["checkout"] for r in rows):
            rs = [r for r in rows if r["graph"] == graph and r["checkout"] == name]
            if not rs:  # a partial table: this graph not reached for this checkout yet
                continue
            cells = [f"{np.mean([r[m] for r in rs]):.3f} ± {np.std([r[m] for r in rs]):.3f}" for m in ("NMI", "ACC", "Ncut")]
            lines.append(f"| {graph} | {name} | " + " | ".join(cells)
                         + f" | {np.mean([r['seconds'] for r in rs]):.1f} |")
    lines += ["", f"Command: `{command}`", ""]
    return "\n".join(lines)


def git_revision(checkout: Path) -> str:
    done = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or str(checkout)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, default=None, help="another checkout to run the same commands from")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..seeds-1 (default: 3, 1 with --quick)")
    parser.add_argument("--root", type=Path, default=None,
                        help=f"data root holding Planetoid/<Name>/raw (default: ${DATA_ROOT_ENV}, else datasets/)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="output directory")
    parser.add_argument("--quick", action="store_true", help="smoke test: a planted graph, 1 seed, 20 epochs")
    args = parser.parse_args(argv)
    settle_counts(parser, args, {"seeds": (1, 3)})
    if args.before is not None and not (args.before / "neuncut_pyg" / "cli.py").is_file():
        parser.error(f"--before {args.before}: no neuncut_pyg/cli.py there (give a checkout of this repository)")
    command = command_line("cli_featureless", argv)
    root = args.root or Path(os.environ.get(DATA_ROOT_ENV) or REPO / "datasets")
    if args.quick:
        graphs = {"planted (N=300, k=3)": planted_partition_graph(300, 3, 10.0, mixing=0.2, num_features=0, seed=0)}
    else:
        try:
            graphs = {name: load_planetoid(name, root, download=False) for name in ("Cora", "CiteSeer")}
        except DatasetNotFoundError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    checkouts = {"this checkout": REPO}
    if args.before is not None:
        checkouts = {"before": args.before.resolve(), "after (this checkout)": REPO}
    names = {name: f"{git_revision(path)}" for name, path in checkouts.items()}
    extra = ["--epochs", "20"] if args.quick else []
    results_file = ResultsFile(args.out, "cli_featureless_quick" if args.quick else "cli_featureless")
    rows: List[Dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="cli-featureless-") as tmp:
        for graph, data in graphs.items():
            k = int(data.y.max()) + 1
            edges = Path(tmp) / f"{graph.split()[0]}.csv"
            write_edges(data.edge_index, edges)
            for seed in range(args.seeds):
                for name, checkout in checkouts.items():
                    out = Path(tmp) / f"{name.split()[0]}-{graph.split()[0]}-{seed}"
                    assignment, seconds = run_cli(checkout, edges, k, seed, out, extra)
                    rows.append({"graph": graph, "checkout": name, "seed": seed, "seconds": seconds,
                                 **score(data, assignment, k)})
                    assigned, seconds = run_assign(checkout, edges, out, out / "assigned.csv")
                    rows.append({"graph": graph, "checkout": f"{name}: assign", "seed": seed, "seconds": seconds,
                                 **score(data, assigned, k)})
                    print(f"{graph}, {name}, seed {seed}: NMI fit {rows[-2]['NMI']:.3f}, assign {rows[-1]['NMI']:.3f}",
                          flush=True)
                    results_file.update(format_markdown(rows, names, command))
    results_file.finish(format_markdown(rows, names, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
