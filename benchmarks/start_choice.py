r"""Which start on an attributed graph: the smoothed-feature start or the graph's own, chosen by
the discrete Ncut (the method's objective, no labels)?

``NeuNcut.fit`` starts an attributed graph from the spectral clustering of its graph-smoothed
features (:func:`neuncut_pyg.start.spectral_start`), and a graph without features from the
spectral clustering of the graph itself (:func:`neuncut_pyg.start.graph.graph_spectral_start`;
``init="graph"`` forces it on an attributed graph). This script measures, on Cora, CiteSeer (where
their raw files are found under ``--root``) and the held-out planted family of
``benchmarks/heldout.py``, both starts' discrete Ncut (:func:`neuncut_pyg.metrics.normalized_cut`,
k = the number of classes or communities), their NMI against the labels (scoring only), their
seconds with one torch thread, and which start the rule "lower discrete Ncut" would keep. It is
the measurement behind ``docs/featureless.md``, "Attributed graphs".

Usage::

    python benchmarks/start_choice.py              # Cora, CiteSeer, the 16 held-out graphs
    python benchmarks/start_choice.py --quick      # smoke test: 2 tiny planted graphs

Writes ``<out>/start_choice.md`` whole at the end, with the command under the table.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(REPO))

from heldout import GRAPHS, QUICK_GRAPHS  # noqa: E402
from neuncut_pyg.adjacency import to_sparse_adjacency  # noqa: E402
from neuncut_pyg.data import DATA_ROOT_ENV, DatasetNotFoundError, load_planetoid  # noqa: E402
from neuncut_pyg.metrics import nmi, normalized_cut  # noqa: E402
from neuncut_pyg.start import spectral_start  # noqa: E402
from neuncut_pyg.start.graph import graph_spectral_start  # noqa: E402
from harness import ResultsFile, command_line  # noqa: E402

STARTS = ("smoothed features", "graph")


def compare_starts(data, k: int, seed: int = 0) -> Dict[str, Dict[str, float]]:
    """Both starts of one graph: ``{start: {"NMI", "Ncut", "seconds"}}``."""
    n = data.num_nodes
    adj = to_sparse_adjacency(data.edge_index, num_nodes=n)
    runs = {STARTS[0]: lambda: spectral_start(data.x, adj, k, seed=seed).labels,
            STARTS[1]: lambda: graph_spectral_start(data.edge_index, n, k, seed=seed).labels}
    scores = {}
    for name, run in runs.items():
        start = time.perf_counter()
        labels = torch.as_tensor(np.asarray(run()))
        scores[name] = {"seconds": time.perf_counter() - start, "NMI": nmi(data.y, labels),
                        "Ncut": normalized_cut(labels, data.edge_index, num_clusters=k)}
    return scores


def format_markdown(rows: List[Dict[str, object]], command: str) -> str:
    lines = ["# The start of an attributed graph, chosen by its discrete Ncut", "",
             "Both starts of `NeuNcut.fit` on each graph (seed 0, one torch thread); NMI scores only. "
             "`kept by Ncut`: the start with the lower discrete Ncut; `right`: whether that start also has "
             "the higher NMI. Script and definitions: `benchmarks/start_choice.py`.", "",
             "| graph | k | smoothed NMI | smoothed Ncut | graph NMI | graph Ncut | kept by Ncut | right | "
             "NMI change of the rule | seconds (smoothed / graph) |",
             "|---|---:|---:|---:|---:|---:|---|---|---:|---|"]
    changes = []
    for row in rows:
        s, g = row[STARTS[0]], row[STARTS[1]]
        kept = STARTS[1] if g["Ncut"] < s["Ncut"] else STARTS[0]
        other = STARTS[0] if kept == STARTS[1] else STARTS[1]
        right = row[kept]["NMI"] >= row[other]["NMI"]
        changes.append(row[kept]["NMI"] - s["NMI"])
        lines.append(f"| {row['name']} | {row['k']} | {s['NMI']:.3f} | {s['Ncut']:.3f} | {g['NMI']:.3f} | "
                     f"{g['Ncut']:.3f} | {kept} | {'yes' if right else 'no'} | {changes[-1]:+.3f} | "
                     f"{s['seconds']:.1f} / {g['seconds']:.1f} |")
    kept_graph = sum(c != 0 for c in changes)
    lines += ["", f"The rule keeps the graph start on {kept_graph} of {len(rows)} graphs; mean NMI change against "
              f"always the smoothed-feature start: {np.mean(changes):+.3f}.", "", f"Command: `{command}`", ""]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=None,
                        help=f"data root holding Planetoid/<Name>/raw (default: ${DATA_ROOT_ENV}, else datasets/)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="output directory")
    parser.add_argument("--quick", action="store_true", help="smoke test: 2 tiny planted graphs, no Planetoid")
    args = parser.parse_args(argv)
    command = command_line("start_choice", argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    root = args.root or Path(os.environ.get(DATA_ROOT_ENV) or REPO / "datasets")
    graphs = []
    if not args.quick:
        for name in ("Cora", "CiteSeer"):
            try:
                data = load_planetoid(name, root, download=False)
            except DatasetNotFoundError as err:
                print(f"skipped {name}: {err}", file=sys.stderr)
                continue
            graphs.append((name, data, int(data.y.max()) + 1))
    for g in QUICK_GRAPHS if args.quick else GRAPHS:
        graphs.append((f"planted N={g.num_nodes:,}, k={g.num_communities}, mixing {g.mixing:.2f}, "
                       f"noise {g.feature_noise:.1f}, F={g.num_features}", g.make(), g.num_communities))
    results_file = ResultsFile(args.out, "start_choice_quick" if args.quick else "start_choice")
    rows = []
    for i, (name, data, k) in enumerate(graphs):
        rows.append({"name": name, "k": k, **compare_starts(data, k)})
        print(f"[{i + 1}/{len(graphs)}] {name}", flush=True)
        results_file.update(format_markdown(rows, command))
    results_file.finish(format_markdown(rows, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
