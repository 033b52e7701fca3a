r"""NeuNcut on Cora, next to spectral clustering.

Trains :class:`neuncut_pyg.NeuNcut` with its defaults on Cora (2708 papers, 7 classes, raw
bag-of-words features) over several seeds, runs spectral clustering (ARPACK ``eigsh`` on the
regularized normalized adjacency + k-means, :func:`neuncut_pyg.spectral_clustering`), and prints
one table: label scores (NMI, ACC, ARI, against the classes, which training never sees), graph
scores (normalized cut, modularity, conductance: lower Ncut is what both methods aim for) and
seconds.

The defaults used here were chosen without labels (``docs/defaults.md``): ``gamma="auto"`` makes
collapsing into one cluster cost what a chance partition's Ncut costs; ``fit(init="auto")``
starts each run from a spectral clustering of graph-smoothed features rather than from random
parameters; ``fit(n_init=3)`` trains three times, fitted to the start, the halves and the
quarters of its clusters, and keeps the run of lowest final loss. Features are used raw. NMI is
only read afterwards, to report. What this script measured is in ``docs/examples.md``; the
5-seed benchmark with more baselines is ``benchmarks/quality.py`` (``docs/quality.md``).

Usage::

    python examples/cora.py                       # 5 seeds x 3 runs
    python examples/cora.py --seeds 3 --plot cora.png
    python examples/cora.py --quick               # smoke test: 1 seed, 30 epochs
    python examples/cora.py --root /path/to/data  # expects <root>/Planetoid/Cora/raw/ind.cora.*

The data root is ``--root``, else ``$NEUNCUT_DATA``, else ``datasets/`` beside ``examples/``.
Without the raw files and without network the script exits with status 1 and says which files
to put where.
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

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(REPO))

from neuncut_pyg.baselines import spectral_clustering  # noqa: E402
from neuncut_pyg.data import DATA_ROOT_ENV, DatasetNotFoundError, load_planetoid  # noqa: E402
from neuncut_pyg.metrics import evaluate_clustering  # noqa: E402
from neuncut_pyg.models import NeuNcut  # noqa: E402

METRICS = ["NMI", "ACC", "ARI", "Ncut", "Modularity", "Conductance", "seconds"]

# torch_sparse hands PyG's layers CSR tensors; torch flags that API as beta on every first use.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="NeuNcut on Cora, next to spectral clustering.")
    parser.add_argument("--root", type=Path, default=None,
                        help=f"data root holding Planetoid/Cora/raw (default: ${DATA_ROOT_ENV}, "
                             "else datasets/ in the checkout)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="number of NeuNcut seeds, 0..seeds-1 (default: 5, or 1 with --quick)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs per run (default: 300, or 30 with --quick)")
    parser.add_argument("--n-init", type=int, default=None,
                        help="training runs per seed, the lowest-loss one kept (default: 3, or 1 with --quick)")
    parser.add_argument("--plot", type=Path, default=None, metavar="PATH",
                        help="write a PNG with the loss curves and a bar chart of the scores")
    parser.add_argument("--quick", action="store_true", help="1 seed, 30 epochs, 1 run: a smoke test")
    parser.add_argument("--progress", action="store_true", help="show tqdm progress bars")
    args = parser.parse_args(argv)
    defaults = dict(seeds=(1, 5), epochs=(30, 300), n_init=(1, 3))
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def data_root(root: Optional[Path]) -> Path:
    """``--root``, else ``$NEUNCUT_DATA``, else ``datasets/`` of the checkout (not of the cwd)."""
    if root is not None:
        return root
    return Path(os.environ.get(DATA_ROOT_ENV) or REPO / "datasets")


def summarize(runs: List[Dict[str, float]]) -> Dict[str, tuple]:
    """Mean and standard deviation of each score over runs."""
    return {key: (float(np.mean([r[key] for r in runs])), float(np.std([r[key] for r in runs]))) for key in METRICS}


def format_table(rows: Dict[str, Dict[str, tuple]]) -> str:
    width = max(len(name) for name in rows) + 2
    lines = [f"{'method':<{width}}" + "".join(f"{m:>16}" for m in METRICS)]
    for name, scores in rows.items():
        cells = []
        for metric in METRICS:
            mean, std = scores[metric]
            cells.append(f"{mean:.3f} ± {std:.3f}" if metric != "seconds" else f"{mean:.1f} ± {std:.1f}")
        lines.append(f"{name:<{width}}" + "".join(f"{cell:>16}" for cell in cells))
    return "\n".join(lines)


def plot(path: Path, histories: List[Dict[str, List[float]]], rows: Dict[str, Dict[str, tuple]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_bar) = plt.subplots(1, 2, figsize=(12, 4.2))
    for seed, history in enumerate(histories):
        label = "loss" if seed == 0 else None
        ax_loss.plot(history["loss"], color="tab:blue", alpha=0.7, label=label)
        ax_loss.plot(history["cut"], color="tab:orange", alpha=0.7, ls="--", label="cut" if seed == 0 else None)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_title(f"NeuNcut training on Cora ({len(histories)} seeds, kept runs)")
    ax_loss.legend()

    shown = [m for m in METRICS if m != "seconds"]
    positions = np.arange(len(shown))
    bar_width = 0.8 / len(rows)
    for i, (name, scores) in enumerate(rows.items()):
        ax_bar.bar(positions + i * bar_width, [scores[m][0] for m in shown], bar_width,
                   yerr=[scores[m][1] for m in shown], capsize=3, label=name)
    ax_bar.set_xticks(positions + bar_width * (len(rows) - 1) / 2, shown, rotation=20)
    ax_bar.set_title("Scores on Cora (Ncut, conductance: lower is better)")
    ax_bar.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    root = data_root(args.root)
    try:
        data = load_planetoid("cora", root)
    except DatasetNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    num_clusters = int(data.y.max()) + 1
    print(f"Cora: {data.num_nodes} nodes, {data.num_edges // 2} edges, {data.num_features} features, "
          f"{num_clusters} classes (data root: {root})")

    runs, histories = [], []
    model = None
    for seed in range(args.seeds):
        start = time.perf_counter()
        model = NeuNcut(data.num_features, num_clusters)
        model.fit(data, epochs=args.epochs, n_init=args.n_init, seed=seed, progress=args.progress)
        labels = model.predict(data)
        seconds = time.perf_counter() - start
        scores = evaluate_clustering(labels, data.edge_index, y_true=data.y)
        scores["seconds"] = seconds
        runs.append(scores)
        histories.append(model.loss_history_.as_dict())
        print(f"  seed {seed}: NMI {scores['NMI']:.3f}  Ncut {scores['Ncut']:.3f}  "
              f"loss {model.objective_:.3f} (runs: {', '.join(f'{o:.3f}' for o in model.init_objectives_)})  "
              f"{seconds:.1f} s", flush=True)
    print(f"  model: {model}")

    start = time.perf_counter()
    spectral = spectral_clustering(data.edge_index, data.num_nodes, num_clusters, seed=0)
    spectral_scores = evaluate_clustering(spectral, data.edge_index, y_true=data.y)
    spectral_scores["seconds"] = time.perf_counter() - start

    rows = {
        f"NeuNcut, {args.seeds} seed{'s' if args.seeds > 1 else ''}": summarize(runs),
        "Spectral clustering": summarize([spectral_scores]),
    }
    print()
    print(format_table(rows))
    if args.plot is not None:
        plot(args.plot, histories, rows)
        print(f"\nplot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
