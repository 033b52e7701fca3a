r"""Inductive clustering: train NeuNcut on part of a graph, assign the nodes it never saw.

The nodes are split at random (seeded) into *seen* (``--train-fraction``, 80%) and *unseen*.
:class:`neuncut_pyg.NeuNcut` is trained, with its defaults, on the subgraph induced by the seen
nodes only (``data.subgraph(seen)``: the unseen nodes, their features and every edge touching
them are absent). Then one forward pass, ``model.predict(data)``, labels the full graph: the new
nodes arrive with their edges to the old ones, and nothing is retrained. As the transductive
reference a second model is trained on the full graph with the same seed.

Reported per dataset, mean ± std over seeds (seed ``s`` fixes both the split and the training):

- NMI / ACC of the seen nodes and of the unseen nodes (both from the full-graph prediction), the
  ratio unseen / seen NMI (the acceptance bar: at least 0.95), and the NMI over all nodes;
- the discrete normalized cut (Ncut) of the full-graph partition;
- how many clusters the seen and the unseen nodes occupy (``k seen``, ``k unseen``);
- for the transductive model the same columns on the same node subsets, and the agreement
  (NMI between the inductive and the transductive labels) on the unseen nodes.

Labels are read for scoring only. The datasets:

- **Cora** (2708 papers, 7 classes, raw bag-of-words features; needs the raw files, see below);
- **synthetic**: :func:`neuncut_pyg.generators.planted_partition_graph` with 3000 nodes, 8
  communities of Zipf-distributed sizes (1102 down to 139 nodes), power-law degrees of mean 10,
  mixing 0.3 (30% of each node's edges leave its community) and 64 Gaussian-mixture features
  with noise 3. Chosen so that neither source suffices alone (``docs/examples.md`` has the NMI
  of k-means on the features and of spectral clustering of the graph).

What this script measured, with the defaults and with random starts, where the acceptance bar
holds and where it fails (features that are mostly noise, ``--feature-noise 6``), is in
``docs/examples.md``.

Usage::

    python examples/inductive.py                         # Cora and synthetic, 3 seeds each
    python examples/inductive.py --dataset synthetic --seeds 5 --plot inductive.png
    python examples/inductive.py --quick                 # smoke test: 1 seed, 30 epochs, 1 run
    python examples/inductive.py --train-fraction 0.5    # train on half the nodes
    python examples/inductive.py --root /path/to/data    # expects <root>/Planetoid/Cora/raw/ind.cora.*

The data root is ``--root``, else ``$NEUNCUT_DATA``, else ``datasets/`` beside ``examples/``.
Without the Cora raw files and without network the script exits with status 1 and says which
files to put where (``--dataset synthetic`` needs no files).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(REPO))

from torch_geometric.data import Data  # noqa: E402

from neuncut_pyg.data import DATA_ROOT_ENV, DatasetNotFoundError, load_planetoid  # noqa: E402
from neuncut_pyg.generators import planted_partition_graph  # noqa: E402
from neuncut_pyg.metrics import clustering_accuracy, nmi, normalized_cut  # noqa: E402
from neuncut_pyg.models import NeuNcut  # noqa: E402

DATASETS = ("cora", "synthetic")
DATASET_NAMES = {"cora": "Cora", "synthetic": "synthetic"}
SETTINGS = ("inductive", "transductive")
METRICS = ["NMI all", "NMI seen", "NMI unseen", "unseen/seen", "ACC seen", "ACC unseen", "Ncut",
           "k seen", "k unseen"]
#: The acceptance bar: mean unseen-node NMI over seeds at least this multiple of the seen nodes'.
MIN_RATIO = 0.95

# torch_sparse hands PyG's layers CSR tensors; torch flags that API as beta on every first use.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train NeuNcut on part of a graph, assign the unseen nodes by a forward pass.")
    parser.add_argument("--dataset", choices=[*DATASETS, "both"], default="both",
                        help="which graph (default: both)")
    parser.add_argument("--root", type=Path, default=None,
                        help=f"data root holding Planetoid/Cora/raw (default: ${DATA_ROOT_ENV}, "
                             "else datasets/ in the checkout)")
    parser.add_argument("--train-fraction", type=float, default=0.8,
                        help="share of the nodes the model is trained on (default: 0.8)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="number of seeds, 0..seeds-1, each a split and a training (default: 3, or 1 with --quick)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs per run (default: 300, or 30 with --quick)")
    parser.add_argument("--n-init", type=int, default=None,
                        help="training runs per fit, the lowest-loss one kept (default: 3, or 1 with --quick)")
    synthetic = parser.add_argument_group("synthetic graph (planted_partition_graph)")
    synthetic.add_argument("--nodes", type=int, default=3000, help="number of nodes (default: 3000)")
    synthetic.add_argument("--communities", type=int, default=8, help="number of communities (default: 8)")
    synthetic.add_argument("--avg-degree", type=float, default=10.0, help="average degree (default: 10)")
    synthetic.add_argument("--mixing", type=float, default=0.3,
                           help="fraction of each node's edges leaving its community (default: 0.3)")
    synthetic.add_argument("--feature-noise", type=float, default=3.0,
                           help="noise scale of the 64 Gaussian-mixture features (default: 3)")
    synthetic.add_argument("--graph-seed", type=int, default=0, help="seed of the graph (default: 0)")
    parser.add_argument("--plot", type=Path, default=None, metavar="PATH",
                        help="write a PNG with seen vs unseen NMI per dataset")
    parser.add_argument("--quick", action="store_true", help="1 seed, 30 epochs, 1 run: a smoke test")
    parser.add_argument("--progress", action="store_true", help="show tqdm progress bars")
    args = parser.parse_args(argv)
    defaults = dict(seeds=(1, 3), epochs=(30, 300), n_init=(1, 3))
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 0.0 < args.train_fraction < 1.0:
        parser.error("--train-fraction must lie strictly between 0 and 1")
    args.datasets = list(DATASETS) if args.dataset == "both" else [args.dataset]
    return args


def data_root(root: Optional[Path]) -> Path:
    """``--root``, else ``$NEUNCUT_DATA``, else ``datasets/`` of the checkout (not of the cwd)."""
    if root is not None:
        return root
    return Path(os.environ.get(DATA_ROOT_ENV) or REPO / "datasets")


def synthetic_graph(args: argparse.Namespace) -> Data:
    """The planted-partition graph of the ``--nodes`` ... ``--graph-seed`` options."""
    return planted_partition_graph(args.nodes, args.communities, args.avg_degree, mixing=args.mixing,
                                   num_features=64, feature_noise=args.feature_noise, seed=args.graph_seed)


def load(name: str, args: argparse.Namespace) -> Data:
    """The graph ``name``; raises :class:`DatasetNotFoundError` when Cora's files are missing."""
    if name == "cora":
        return load_planetoid("cora", data_root(args.root))
    return synthetic_graph(args)


def split_nodes(num_nodes: int, train_fraction: float, seed: int) -> torch.Tensor:
    """A boolean mask of the seen nodes: ``round(train_fraction * N)`` of them, drawn uniformly
    with a generator seeded by ``seed`` (the global random state is left alone)."""
    generator = torch.Generator().manual_seed(seed)
    num_seen = min(max(round(train_fraction * num_nodes), 1), num_nodes - 1)
    seen = torch.zeros(num_nodes, dtype=torch.bool)
    seen[torch.randperm(num_nodes, generator=generator)[:num_seen]] = True
    return seen


def training_graph(data: Data, seen: torch.Tensor) -> Data:
    """The subgraph induced by the seen nodes, relabelled ``0..|seen|-1`` (PyG's
    ``Data.subgraph``): features and edges of the unseen nodes are not in it."""
    train_data = data.subgraph(seen)
    assert train_data.num_nodes == int(seen.sum())
    return train_data


def fit(data: Data, num_clusters: int, seed: int, args: argparse.Namespace) -> NeuNcut:
    """NeuNcut with its defaults, trained on ``data`` (labels are never read)."""
    model = NeuNcut(data.num_features, num_clusters)
    return model.fit(data, epochs=args.epochs, n_init=args.n_init, seed=seed, progress=args.progress)


def score(data: Data, seen: torch.Tensor, labels: torch.Tensor) -> Dict[str, float]:
    """The table's columns for one full-graph partition ``labels`` and one split."""
    y = data.y
    unseen = ~seen
    scores = {
        "NMI all": nmi(y, labels),
        "NMI seen": nmi(y[seen], labels[seen]),
        "NMI unseen": nmi(y[unseen], labels[unseen]),
        "ACC seen": clustering_accuracy(y[seen], labels[seen]),
        "ACC unseen": clustering_accuracy(y[unseen], labels[unseen]),
        "Ncut": normalized_cut(labels, data.edge_index),
        "k seen": float(labels[seen].unique().numel()),
        "k unseen": float(labels[unseen].unique().numel()),
    }
    scores["unseen/seen"] = scores["NMI unseen"] / scores["NMI seen"] if scores["NMI seen"] > 0 else float("nan")
    return scores


def run_seed(data: Data, num_clusters: int, seed: int, args: argparse.Namespace) -> Dict[str, object]:
    """One split and two trainings (inductive, transductive); scores and labels of both."""
    seen = split_nodes(data.num_nodes, args.train_fraction, seed)
    train_data = training_graph(data, seen)
    start = time.perf_counter()
    inductive_model = fit(train_data, num_clusters, seed, args)
    inductive = inductive_model.predict(data)  # one forward pass over the full graph
    inductive_seconds = time.perf_counter() - start
    start = time.perf_counter()
    transductive = fit(data, num_clusters, seed, args).predict(data)
    transductive_seconds = time.perf_counter() - start
    return {
        "seen": seen,
        "train_nodes": train_data.num_nodes,
        "labels": {"inductive": inductive, "transductive": transductive},
        "scores": {"inductive": score(data, seen, inductive), "transductive": score(data, seen, transductive)},
        "agreement": nmi(transductive[~seen], inductive[~seen]),
        "seconds": {"inductive": inductive_seconds, "transductive": transductive_seconds},
    }


def summarize(runs: List[Dict[str, float]]) -> Dict[str, Tuple[float, float]]:
    """Mean and standard deviation of each score over runs."""
    return {key: (float(np.mean([r[key] for r in runs])), float(np.std([r[key] for r in runs]))) for key in runs[0]}


def format_table(rows: Dict[str, Dict[str, Tuple[float, float]]]) -> str:
    width = max(len(name) for name in rows) + 2
    lines = [f"{'method':<{width}}" + "".join(f"{m:>16}" for m in METRICS)]
    for name, scores in rows.items():
        cells = []
        for metric in METRICS:
            mean, std = scores[metric]
            cells.append(f"{mean:.1f} ± {std:.1f}" if metric.startswith("k ") else f"{mean:.3f} ± {std:.3f}")
        lines.append(f"{name:<{width}}" + "".join(f"{cell:>16}" for cell in cells))
    return "\n".join(lines)


def row_name(dataset: str, setting: str) -> str:
    return f"{DATASET_NAMES[dataset]} {setting}"


def plot(path: Path, rows: Dict[str, Dict[str, Tuple[float, float]]], datasets: List[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.2 + 2.6 * len(datasets), 4.2))
    bars = [("inductive", "NMI seen", "inductive, seen (trained on)"),
            ("inductive", "NMI unseen", "inductive, unseen (never seen)"),
            ("transductive", "NMI unseen", "transductive, same unseen nodes")]
    positions = np.arange(len(datasets))
    bar_width = 0.8 / len(bars)
    for i, (setting, metric, label) in enumerate(bars):
        scores = [rows[row_name(d, setting)][metric] for d in datasets]
        ax.bar(positions + i * bar_width, [s[0] for s in scores], bar_width,
               yerr=[s[1] for s in scores], capsize=3, label=label)
    ax.set_xticks(positions + bar_width * (len(bars) - 1) / 2, [DATASET_NAMES[d] for d in datasets])
    ax.set_ylabel("NMI")
    ax.set_ylim(0, 1)
    ax.set_title("NeuNcut: nodes seen in training vs nodes assigned by a forward pass")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    graphs = {}
    for name in args.datasets:  # load everything first: missing data fails before any training
        try:
            graphs[name] = load(name, args)
        except DatasetNotFoundError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1

    rows: Dict[str, Dict[str, Tuple[float, float]]] = {}
    agreements: Dict[str, Tuple[float, float]] = {}
    for name, data in graphs.items():
        num_clusters = int(data.y.max()) + 1
        num_seen = int(split_nodes(data.num_nodes, args.train_fraction, 0).sum())
        print(f"{DATASET_NAMES[name]}: {data.num_nodes} nodes, {data.num_edges // 2} edges, "
              f"{data.num_features} features, {num_clusters} classes; trained on {num_seen} nodes "
              f"({args.train_fraction:.0%}), {data.num_nodes - num_seen} unseen", flush=True)
        runs = []
        for seed in range(args.seeds):
            run = run_seed(data, num_clusters, seed, args)
            runs.append(run)
            ind, trans = run["scores"]["inductive"], run["scores"]["transductive"]
            print(f"  seed {seed}: inductive NMI seen {ind['NMI seen']:.3f} unseen {ind['NMI unseen']:.3f} "
                  f"(ratio {ind['unseen/seen']:.3f}), Ncut {ind['Ncut']:.3f} | transductive NMI "
                  f"{trans['NMI all']:.3f}, Ncut {trans['Ncut']:.3f} | agreement on unseen "
                  f"{run['agreement']:.3f} | {run['seconds']['inductive']:.1f} s + "
                  f"{run['seconds']['transductive']:.1f} s", flush=True)
        for setting in SETTINGS:
            rows[row_name(name, setting)] = summarize([run["scores"][setting] for run in runs])
        agreements[name] = summarize([{"agreement": run["agreement"]} for run in runs])["agreement"]

    print()
    print(format_table(rows))
    print()
    for name in graphs:
        ratio = rows[row_name(name, "inductive")]["unseen/seen"][0]
        mean, std = agreements[name]
        print(f"{DATASET_NAMES[name]}: unseen/seen NMI {ratio:.3f} (bar {MIN_RATIO}: "
              f"{'met' if ratio >= MIN_RATIO else 'NOT met'}); agreement of inductive and "
              f"transductive labels on the unseen nodes (NMI) {mean:.3f} ± {std:.3f}")
    if args.plot is not None:
        plot(args.plot, rows, list(graphs))
        print(f"\nplot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
