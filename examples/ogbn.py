r"""Community detection on an OGB node-property graph with mini-batch NeuNcut.

Loads ``ogbn-arxiv``, ``ogbn-products`` or ``ogbn-papers100M`` through OGB's
``PygNodePropPredDataset`` (:func:`neuncut_pyg.load_ogb_node`: symmetrized, read from
``<root>/ogbn_<name>/`` when the files are there, downloaded where there is network, otherwise a
clear message saying which files to put where), takes the number of classes as :math:`k` unless
``--k`` is given, trains :class:`neuncut_pyg.NeuNcut` in ``NeighborLoader`` mini-batches, assigns
every node in batches, and prints:

- label scores against OGB's classes (which training never reads): NMI, ACC, ARI, F1, over the
  labelled nodes;
- graph scores: modularity, conductance, normalized cut;
- wall time of training + assignment, and the process's peak resident memory.

The default encoder is ``"mlp"`` over features propagated over the graph (to the depth the
spectral start chose): an MLP needs no neighbourhood to compute a node's memberships, so a batch
costs the MLP on its seed rows, and the loss reads the seeds' neighbourhoods from a cache of
memberships. ``--encoder gcn`` / ``sage`` train PyG's GNNs on sampled subgraphs instead.
``--spectral`` adds spectral clustering (``eigsh`` + k-means) on the same graph for reference.
Epochs, learning rate and runs default to ``NeuNcut.fit``'s for the mode (mini-batch, or full
batch with ``--batch-size 0``).

Usage::

    python examples/ogbn.py --name ogbn-arxiv                       # data root: $NEUNCUT_DATA or datasets/
    python examples/ogbn.py --name ogbn-products --batch-size 8192
    python examples/ogbn.py --name ogbn-products --batch-size 0 --epochs 3 --lr 0.01  # full batch
    python examples/ogbn.py --name ogbn-arxiv --root /data/ogb --spectral --plot arxiv.png

Without the files and without network it exits with status 1 and lists the files expected.
"""
from __future__ import annotations

import argparse
import os
import resource
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

from neuncut_pyg.baselines import spectral_clustering  # noqa: E402
from neuncut_pyg.data import DATA_ROOT_ENV, DatasetNotFoundError, load_ogb_node, ogb_node_names  # noqa: E402
from neuncut_pyg.metrics import evaluate_clustering  # noqa: E402
from neuncut_pyg.models import NeuNcut  # noqa: E402

warnings.filterwarnings("ignore", message=".*(pyg-lib|Sparse CSR|Sparse invariant).*")

METRICS = ["NMI", "ACC", "ARI", "F1", "Modularity", "Conductance", "Ncut", "seconds"]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Mini-batch NeuNcut on an OGB node-property graph.")
    parser.add_argument("--name", default="ogbn-arxiv", choices=ogb_node_names(), help="OGB dataset")
    parser.add_argument("--root", type=Path, default=None,
                        help=f"data root holding ogbn_<name>/ (default: ${DATA_ROOT_ENV}, else datasets/ in the checkout)")
    parser.add_argument("--k", type=int, default=None, help="number of clusters (default: number of classes)")
    parser.add_argument("--encoder", default="mlp", choices=["mlp", "gcn", "sage"])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=None, help="default: NeuNcut.fit's for the mode")
    parser.add_argument("--lr", type=float, default=None, help="default: NeuNcut.fit's for the mode")
    parser.add_argument("--batch-size", type=int, default=4096,
                        help="seed nodes per mini-batch; 0 trains full-batch, where --init auto starts from the "
                             "spectral clustering of smoothed features (the fastest recipe with the MLP encoder "
                             "when the graph fits in memory; see the README's scale tables)")
    parser.add_argument("--num-neighbors", type=int, nargs="+", default=None,
                        help="neighbours sampled per GNN layer (default: NeuNcut.fit's: 10 per layer)")
    parser.add_argument("--n-init", type=int, default=None, help="default: NeuNcut.fit's for the mode")
    parser.add_argument("--init", choices=["auto", "random", "spectral"], default="auto",
                        help="where training starts (default: auto, the spectral clustering of smoothed features)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spectral", action="store_true", help="also run spectral clustering (eigsh + k-means)")
    parser.add_argument("--plot", type=Path, default=None, metavar="PATH", help="PNG: loss curve and cluster sizes")
    parser.add_argument("--progress", action="store_true", help="tqdm progress bars")
    args = parser.parse_args(argv)
    for name in ("hidden", "epochs", "n_init"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.batch_size < 0:
        parser.error("--batch-size must be >= 1, or 0 for full batch")
    if args.batch_size == 0 and args.num_neighbors is not None:
        parser.error("--num-neighbors samples mini-batches: it needs --batch-size >= 1")
    if args.k is not None and args.k < 2:
        parser.error("--k must be >= 2")
    return args


def data_root(root: Optional[Path]) -> Path:
    if root is not None:
        return root
    return Path(os.environ.get(DATA_ROOT_ENV) or REPO / "datasets")


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (Linux)


def score(labels: torch.Tensor, data, seconds: float) -> Dict[str, float]:
    """Label scores over the labelled nodes (OGB marks the others -1), graph scores over all."""
    labelled = data.y >= 0
    scores = evaluate_clustering(labels[labelled], y_true=data.y[labelled])
    scores.update(evaluate_clustering(labels, data.edge_index))
    scores["seconds"] = seconds
    return scores


def format_table(rows: Dict[str, Dict[str, float]]) -> str:
    width = max(len(name) for name in rows) + 2
    lines = [f"{'method':<{width}}" + "".join(f"{m:>13}" for m in METRICS)]
    for name, scores in rows.items():
        lines.append(f"{name:<{width}}" + "".join(
            f"{scores[m]:>13.1f}" if m == "seconds" else f"{scores[m]:>13.3f}" for m in METRICS))
    return "\n".join(lines)


def plot(path: Path, model: NeuNcut, labels: torch.Tensor, k: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_sizes) = plt.subplots(1, 2, figsize=(11, 4))
    history = model.loss_history_
    ax_loss.plot(history.loss, label="loss")
    ax_loss.plot(history.cut, ls="--", label="cut")
    ax_loss.set_xlabel("epoch (mean over its batches)")
    ax_loss.set_title("NeuNcut training")
    ax_loss.legend()
    sizes = torch.bincount(labels, minlength=k).sort(descending=True).values
    ax_sizes.bar(range(k), sizes.numpy())
    ax_sizes.set_title("cluster sizes")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    root = data_root(args.root)
    try:
        data = load_ogb_node(args.name, root)
    except DatasetNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    k = args.k if args.k is not None else int(data.y.max()) + 1
    print(f"{args.name}: {data.num_nodes:,} nodes, {data.edge_index.size(1) // 2:,} undirected edges, "
          f"{data.num_features} features, k = {k} (data root: {root})", flush=True)
    if k > data.num_nodes:
        print(f"error: k = {k} exceeds the number of nodes ({data.num_nodes})", file=sys.stderr)
        return 1

    start = time.perf_counter()
    model = NeuNcut(data.num_features, k, encoder=args.encoder, hidden_channels=args.hidden)
    # fit_predict: the labels of the fit's final pass over all nodes (what predict would give,
    # without propagating the features over the graph a second time).
    labels = model.fit_predict(data, epochs=args.epochs, lr=args.lr, n_init=args.n_init, seed=args.seed,
                               batch_size=args.batch_size or None, num_neighbors=args.num_neighbors,
                               init=args.init, progress=args.progress)
    rows = {f"NeuNcut ({args.encoder})": score(labels, data, time.perf_counter() - start)}
    print(f"  {model}, gamma_ = {model.gamma_:.1f}, {int(labels.unique().numel())} non-empty clusters; "
          f"peak RSS so far {peak_rss_gib():.2f} GiB", flush=True)

    if args.spectral:
        start = time.perf_counter()
        spectral = torch.as_tensor(spectral_clustering(data.edge_index, data.num_nodes, k, seed=args.seed))
        rows["spectral clustering"] = score(spectral, data, time.perf_counter() - start)

    print()
    print(format_table(rows))
    print(f"\npeak resident memory of this process: {peak_rss_gib():.2f} GiB")
    if args.plot is not None:
        plot(args.plot, model, labels, k)
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
