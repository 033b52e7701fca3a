r"""The ``neuncut`` command line: train NeuNcut on a graph, assign nodes, evaluate partitions.

.. code-block:: bash

    neuncut fit --dataset cora --out run/                       # k = number of classes
    neuncut fit --edges graph.csv --features x.csv --k 8 --out run/
    neuncut fit --edges graph.csv --nodes nodes.txt --k 8 --out run/ --plot   # featureless graph
    neuncut fit --edges graph.csv --k auto --out run/           # k chosen from the graph
    neuncut assign --model run/ --edges bigger_graph.csv --features bigger_x.csv --out new.csv
    neuncut evaluate --assignments run/assignments.csv --edges graph.csv [--labels y.csv]

``fit`` writes the checkpoint (:mod:`neuncut_pyg.checkpoint`) and ``assignments.csv``
(``node_id,cluster,confidence``: the partition the fit kept, ``labels_``, and the network's
membership of that cluster) into ``--out``; ``assign`` writes the network's most likely cluster
and its membership.
The user documentation (file formats, nodes without edges, errors, defaults) is ``docs/cli.md``.

**Nodes without edges.** An edge list cannot name them; the features file (or, for a graph
without features, a node list given with ``--nodes FILE``) can. Its ids that the edge list lacks
become isolated nodes of the graph (:func:`neuncut_pyg.io.read_graph`), assigned by their
features like any other node.

**Graphs without features.** An edge list given without ``--features`` (or a dataset without
features) goes to the library's featureless path: ``NeuNcut(-1, k)`` on a ``Data`` without
``x``, whose ``node_id`` are the hashed node ids (:func:`~neuncut_pyg.models.featureless.node_keys`).
The model builds its input from them (:class:`~neuncut_pyg.models.featureless.FeaturelessInput`)
and stores it in the checkpoint, so ``assign`` rebuilds the same features for known nodes and
fresh ones for new ids. The features of a node depend on its neighbourhood, so ``assign`` is
meant for graphs that share most nodes with the training graph (the training graph grown or
edited); for a disjoint graph, train with real ``--features``. Checkpoints written before this
path (``"node-id-random-walk"`` features, :func:`node_id_features`) are still assigned with the
features they were trained on.

The output (``--out``) is created and checked writable before any input is read. Bad input (a
missing or malformed file, an unknown node id, ``k`` larger than the graph, a checkpoint of
another format version, a dataset that is not on disk) ends with one line ``neuncut: error:
...`` on stderr and exit status 2; a failure to write the output, status 1.
"""
from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from sklearn.metrics.cluster import contingency_matrix
from torch import Tensor
from torch_geometric.data import Data

from neuncut_pyg.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from neuncut_pyg.data import DatasetNotFoundError, load_dataset
from neuncut_pyg.generators import planted_partition_graph
from neuncut_pyg.io import (
    InputError,
    atomic_path,
    atomic_write_csv,
    output_directory,
    read_assignments,
    read_graph,
    read_labels,
)
from neuncut_pyg.metrics import evaluate_clustering
from neuncut_pyg.models import NeuNcut
from neuncut_pyg.models.featureless import node_id_features, node_keys
from neuncut_pyg.models.neuncut import FULL_BATCH_DEFAULTS, MINI_BATCH_DEFAULTS

__all__ = ["main", "build_parser", "node_id_features"]

PROG = "neuncut"

#: The checkpoint config's ``features`` of a graph without features: the model's own input.
MODEL_FEATURES = {"kind": "model"}
# Older checkpoints' featurization of graphs without features (node_id_features' settings).
_LEGACY_ID_FEATURES = "node-id-random-walk"


class CommandError(Exception):
    """Bad input detected by the command line itself (exit status 2)."""


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def _numbered_ids(num_nodes: int) -> List[str]:
    return [str(i) for i in range(num_nodes)]


def _synthetic_size(nodes: Optional[str]) -> int:
    """``--nodes`` with ``--dataset synthetic``: the number of nodes (default 1000)."""
    if nodes is None:
        return 1000
    try:
        return _positive_int(nodes)
    except argparse.ArgumentTypeError:
        raise CommandError(f"--nodes with --dataset synthetic is the number of nodes: expected a positive "
                           f"integer, got {nodes!r}") from None


def _load_named(args: argparse.Namespace) -> Data:
    """The graph of ``--dataset`` (a benchmark on disk, or ``synthetic``)."""
    name = args.dataset.lower()
    if name == "synthetic":
        return planted_partition_graph(
            _synthetic_size(args.nodes), args.communities, args.avg_degree, mixing=args.mixing, seed=args.seed,
            num_features=args.synthetic_features,
        )
    if args.nodes is not None:
        raise CommandError("--nodes goes with --edges (a node list file) or --dataset synthetic (a number of nodes)")
    return load_dataset(name, args.root)


def _featureless_data(edge_index: Tensor, node_ids: Sequence[str], edge_weight: Optional[Tensor] = None) -> Data:
    """A ``Data`` without ``x`` whose ``node_id`` are the hashed ids: NeuNcut's featureless path."""
    keys = torch.from_numpy(node_keys(list(node_ids)).view(np.int64))
    data = Data(edge_index=edge_index, num_nodes=len(node_ids), node_id=keys)
    if edge_weight is not None:
        data.edge_weight = edge_weight
    return data


def _check_node_sources(args: argparse.Namespace) -> None:
    if args.features is not None and args.nodes is not None:
        raise CommandError("--nodes lists the nodes of a graph without --features; a features file names its "
                           "nodes itself (its ids that the edge list lacks become nodes without edges)")


def _graph_from_edges(
    args: argparse.Namespace, featurizer: Optional[Dict[str, Any]]
) -> Tuple[Data, List[str], Dict[str, Any], int]:
    """``(data, node_ids, featurizer, num_isolated)`` of ``--edges`` with ``--features`` or
    ``--nodes``: features from the file, none (the model's own input), or an older
    checkpoint's node-id ``featurizer``."""
    graph = read_graph(args.edges, features=args.features, nodes=args.nodes, progress=not args.quiet)
    if graph.x is not None:
        data = Data(x=graph.x, edge_index=graph.edge_index, num_nodes=len(graph.node_ids))
        featurizer = {"kind": "file"}
    elif featurizer is not None and featurizer.get("kind") == _LEGACY_ID_FEATURES:
        x = node_id_features(graph.node_ids, graph.edge_index, graph.edge_weight, dim=featurizer["dim"],
                             steps=featurizer["steps"], seed=featurizer["seed"])
        data = Data(x=x, edge_index=graph.edge_index, num_nodes=len(graph.node_ids))
    else:
        data = _featureless_data(graph.edge_index, graph.node_ids)
        featurizer = dict(MODEL_FEATURES)
    if graph.edge_weight is not None:
        data.edge_weight = graph.edge_weight
    return data, graph.node_ids, featurizer, graph.num_isolated


def _num_isolated(edge_index: Tensor, num_nodes: int) -> int:
    """How many of ``num_nodes`` nodes no edge touches."""
    touched = torch.zeros(num_nodes, dtype=torch.bool)
    touched[edge_index.reshape(-1)] = True
    return int(num_nodes - touched.sum())


def _check_plotting() -> None:
    """Fails before any work when ``--plot`` cannot draw."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise CommandError("--plot needs matplotlib: pip install 'neuncut-pyg[plot]'") from err


def _check_k(k: Any, num_nodes: int, args: argparse.Namespace) -> None:
    if (args.k_min is not None or args.k_max is not None) and k != "auto":
        raise CommandError("--k-min and --k-max bound --k auto; give --k auto with them")
    if k == "auto":
        return
    if k < 2:
        raise CommandError(f"--k must be at least 2, got {k}")
    if k > num_nodes:
        raise CommandError(f"--k {k} is larger than the number of nodes ({num_nodes}): need k <= {num_nodes}")


# ---------------------------------------------------------------------------------------------
# Sub-commands
# ---------------------------------------------------------------------------------------------


def _assignments_rows(node_ids: Sequence[str], proba: Tensor, cluster: Optional[Tensor] = None):
    """``(node id, cluster, confidence)`` rows: the network's most likely cluster, or the given
    ``cluster`` (the partition ``fit`` kept), with the membership of that cluster."""
    if cluster is None:
        cluster = proba.argmax(dim=-1)
    confidence = proba.gather(1, cluster.view(-1, 1)).view(-1)
    for node, c, p in zip(node_ids, cluster.tolist(), confidence.tolist()):
        yield node, c, f"{p:.6f}"


def _cmd_fit(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} exists and is not a directory")
    _check_node_sources(args)
    if args.plot:
        _check_plotting()
    with output_directory(out):  # created and proven writable before any input is read
        return _fit(args, out)


def _fit(args: argparse.Namespace, out: Path) -> int:
    labels: Optional[Tensor] = None
    if args.dataset is not None:
        if args.features is not None:
            raise CommandError("--features goes with --edges; a --dataset brings its own features")
        data = _load_named(args)
        node_ids = _numbered_ids(data.num_nodes)
        featurizer: Dict[str, Any] = {"kind": "dataset", "dataset": args.dataset.lower()}
        labels = getattr(data, "y", None)
        if getattr(data, "x", None) is None:
            featurizer = dict(MODEL_FEATURES)
            data = _featureless_data(data.edge_index, node_ids)
        if labels is not None:
            labels = labels.view(-1)
        k = args.k if args.k is not None else (int(labels.max()) + 1 if labels is not None else None)
        if k is None:
            raise CommandError(f"dataset {args.dataset} has no labels: give the number of clusters with --k")
        num_isolated = _num_isolated(data.edge_index, data.num_nodes)
    else:
        if args.k is None:
            raise CommandError("--k (the number of clusters) is required with --edges")
        data, node_ids, featurizer, num_isolated = _graph_from_edges(args, None)
        k = args.k
    _check_k(k, len(node_ids), args)

    model_kwargs = {"encoder": args.encoder, "hidden_channels": args.hidden, "num_layers": args.layers,
                    "gamma": args.gamma, "dropout": args.dropout}
    if k == "auto":
        model_kwargs.update(k_min=args.k_min, k_max=args.k_max)
    model = NeuNcut(data.x.size(1) if getattr(data, "x", None) is not None else -1, k, **model_kwargs)
    # None (not given) leaves epochs, lr and n_init to NeuNcut.fit's per-mode defaults.
    fit_options: Dict[str, Any] = {"init": args.init, "n_init": args.n_init, "batch_size": args.batch_size}
    model.fit(data, epochs=args.epochs, lr=args.lr, seed=args.seed, progress=not args.quiet, **fit_options)
    proba = model.predict_proba(data, batch_size=args.batch_size)

    source: Dict[str, Any] = {"dataset": args.dataset} if args.dataset else {
        "edges": str(args.edges), "features": args.features, "nodes": args.nodes}
    config = {
        "features": featurizer,
        "train": {"epochs": args.epochs, "lr": args.lr, "seed": args.seed, **fit_options},
        "source": source,
        "objective": model.objective_,
        "num_clusters": model.num_clusters_,
        "ncut": model.ncut_,
        "kept": model.kept_,
    }
    save_checkpoint(out, model, config, node_ids)
    # The partition fit kept (the start's when training did not lower its Ncut), which the
    # network distilled from it may not reproduce on every node.
    kept = model.labels_.cpu()
    atomic_write_csv(out / "assignments.csv", ["node_id", "cluster", "confidence"],
                     _assignments_rows(node_ids, proba, kept))
    if args.plot:
        _plots(out, model, kept, labels)
    k = model.num_clusters_
    sizes = torch.bincount(kept, minlength=k).tolist()
    chosen = " (chosen: --k auto)" if args.k == "auto" else ""
    kept = "; kept the start's partition (training did not lower its Ncut)" if model.kept_ == "start" else ""
    print(f"trained NeuNcut ({len(node_ids)} nodes, k={k}{chosen}; {num_isolated} of the nodes without edges): "
          f"final loss {model.objective_:.4f}, Ncut {model.ncut_:.4f}, cluster sizes {sizes}{kept}; "
          f"wrote {out / 'checkpoint.pt'} and {out / 'assignments.csv'}")
    return 0


def _cmd_assign(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.is_dir():
        raise CommandError(f"--out {out} is a directory; give the path of the assignments CSV to write")
    _check_node_sources(args)
    with output_directory(out.parent):  # created and proven writable before any input is read
        return _assign(args, out)


def _assign(args: argparse.Namespace, out: Path) -> int:
    model, config, train_ids = load_checkpoint(args.model)
    featurizer = config.get("features", {})
    kind = featurizer.get("kind")
    if kind in ("model", _LEGACY_ID_FEATURES):
        if args.features is not None:
            raise CommandError(
                f"the model in {args.model} was trained without --features (node-id features): "
                "assign without --features (nodes without edges: --nodes FILE)"
            )
    elif args.features is None:
        raise CommandError(f"the model in {args.model} was trained on node features ({kind}): give --features FILE")
    data, node_ids, _, num_isolated = _graph_from_edges(args, featurizer if kind != "file" else None)
    proba = model.predict_proba(data)
    atomic_write_csv(out, ["node_id", "cluster", "confidence"], _assignments_rows(node_ids, proba))
    known = set(train_ids)
    new = sum(1 for node in node_ids if node not in known)
    print(f"assigned {len(node_ids)} nodes ({new} not in the training graph, {num_isolated} without edges) "
          f"to {proba.size(1)} clusters; wrote {out}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    edge_weight = None
    y_true: Optional[Tensor] = None
    if args.dataset is not None:
        data = _load_named(args)
        node_ids = _numbered_ids(data.num_nodes)
        edge_index = data.edge_index
        if getattr(data, "y", None) is not None:
            y_true = data.y.view(-1)
    else:
        graph = read_graph(args.edges, nodes=args.nodes, progress=not args.quiet)
        edge_index, edge_weight, node_ids = graph.edge_index, graph.edge_weight, graph.node_ids
    clusters = read_assignments(args.assignments, node_ids)
    if args.labels is not None:
        y_true = read_labels(args.labels, node_ids)
    scores = evaluate_clustering(clusters, edge_index, edge_weight, y_true=y_true)
    width = max(len(name) for name in scores)
    print(f"{'metric':<{width}}  value")
    for name, value in scores.items():
        print(f"{name:<{width}}  {value:.4f}")
    return 0


# ---------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------


def _plots(out: Path, model: NeuNcut, clusters: Tensor, labels: Optional[Tensor]) -> None:
    """``loss.png``, ``cluster_sizes.png`` and, with labels, ``confusion.png`` in ``out``."""
    import matplotlib  # present: checked by _check_plotting before the run

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(fig: Any, name: str) -> None:
        with atomic_path(out / name) as tmp:
            fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
        plt.close(fig)

    history = model.loss_history_
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, len(history) + 1)
    ax.plot(epochs, history.loss, label="loss")
    ax.plot(epochs, history.cut, label="cut (relaxed Ncut)")
    ax.plot(epochs, history.orth, label="orth")
    ax.set_xlabel("epoch")
    ax.set_yscale("log")
    ax.set_title("NeuNcut training objective")
    ax.legend()
    save(fig, "loss.png")

    sizes = torch.bincount(clusters, minlength=model.num_clusters_).numpy()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(np.arange(len(sizes)), sizes)
    ax.set_xticks(np.arange(len(sizes)))
    ax.set_xlabel("cluster")
    ax.set_ylabel("nodes")
    ax.set_title("Cluster sizes")
    save(fig, "cluster_sizes.png")

    if labels is not None:
        table = contingency_matrix(labels.numpy(), clusters.numpy())
        classes, present = np.unique(labels.numpy()), np.unique(clusters.numpy())
        fig, ax = plt.subplots(figsize=(max(4.5, 1.5 + 0.5 * len(present)), max(3.5, 1.0 + 0.45 * len(classes))))
        image = ax.imshow(table, cmap="Blues", aspect="auto")
        fig.colorbar(image, ax=ax, label="nodes")
        ax.set_xticks(np.arange(len(present)), [str(c) for c in present])
        ax.set_yticks(np.arange(len(classes)), [str(c) for c in classes])
        if table.size <= 400:
            for (i, j), count in np.ndenumerate(table):
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                        color="white" if count > table.max() / 2 else "black")
        ax.set_xlabel("cluster")
        ax.set_ylabel("class")
        ax.set_title("Classes vs clusters")
        save(fig, "confusion.png")


# ---------------------------------------------------------------------------------------------
# Parser and entry point
# ---------------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _num_clusters(text: str):
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'auto', got {text!r}") from None


def _gamma(text: str):
    return "auto" if text == "auto" else _positive_float(text)


def _per_mode_default(name: str) -> str:
    """The help's ``(default: ...)`` of a setting NeuNcut.fit defaults per mode (None passed through)."""
    full, mini = FULL_BATCH_DEFAULTS[name], MINI_BATCH_DEFAULTS[name]
    return f"(default: NeuNcut.fit's, {full} full batch, {mini} with --batch-size)"


#: Help of ``--nodes``, whose value is a file with ``--edges`` and a number with ``--dataset synthetic``.
_NODES_HELP = ("with --edges: a node list FILE (one id a line; any table whose first column is the node id) "
               "whose ids that the edge list lacks become nodes without edges{}; with --dataset synthetic: the "
               "number of nodes N (default: 1000)")


def _dataset_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("datasets (--dataset)")
    group.add_argument("--root", default=None, help="data root (default: $NEUNCUT_DATA or ./datasets)")
    group.add_argument("--communities", type=_positive_int, default=4, help="synthetic: number of communities (default: 4)")
    group.add_argument("--avg-degree", type=_positive_float, default=10.0, help="synthetic: average degree (default: 10)")
    group.add_argument("--mixing", type=float, default=0.2, help="synthetic: fraction of edges leaving a community (default: 0.2)")
    group.add_argument("--synthetic-features", type=int, default=64, help="synthetic: feature size, 0 for none (default: 64)")


def build_parser() -> argparse.ArgumentParser:
    """The ``neuncut`` argument parser (sub-commands ``fit``, ``assign``, ``evaluate``)."""
    parser = argparse.ArgumentParser(prog=PROG, description="Neural Normalized Cut (NeuNcut) graph clustering.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{fit,assign,evaluate}")

    fit = sub.add_parser("fit", help="train NeuNcut on a graph; write a checkpoint and assignments.csv")
    source = fit.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="cora, citeseer, pubmed, ogbn-*, or synthetic (a planted partition)")
    source.add_argument("--edges", help="edge list: src,dst[,weight] (comma, tab or whitespace separated)")
    fit.add_argument("--features", help="node features: CSV node_id,f1,... (ids the edge list lacks become nodes "
                                        "without edges), or .npy [N, F] in edge-list node order")
    fit.add_argument("--nodes", metavar="FILE|N", help=_NODES_HELP.format(", for graphs without --features"))
    fit.add_argument("--k", type=_num_clusters, default=None,
                     help="number of clusters, or 'auto' to choose it from the graph (default for datasets: number "
                          "of classes)")
    fit.add_argument("--k-min", type=int, default=None, help="with --k auto: the fewest clusters (default: 2)")
    fit.add_argument("--k-max", type=int, default=None, help="with --k auto: the most clusters (default: 100)")
    fit.add_argument("--encoder", choices=["gcn", "sage", "mlp"], default="gcn",
                     help="encoder: a GNN, or an MLP over propagated features (default: gcn)")
    fit.add_argument("--epochs", type=_positive_int, default=None,
                     help="training epochs (full-batch steps, or passes over the nodes) " + _per_mode_default("epochs"))
    fit.add_argument("--lr", type=_positive_float, default=None, help="Adam learning rate " + _per_mode_default("lr"))
    fit.add_argument("--gamma", type=_gamma, default="auto",
                     help="orthogonality weight, or 'auto' for 2k*sqrt(k-1) scaled to the graph (default: auto)")
    fit.add_argument("--batch-size", type=_positive_int, default=None,
                     help="train in NeighborLoader mini-batches of this many seed nodes (default: full batch)")
    fit.add_argument("--hidden", type=_positive_int, default=128, help="encoder width (default: 128, NeuNcut's)")
    fit.add_argument("--layers", type=_positive_int, default=1, help="encoder layers (default: 1)")
    fit.add_argument("--dropout", type=float, default=0.5, help="dropout (default: 0.5)")
    fit.add_argument("--n-init", type=_positive_int, default=None,
                     help="training runs from independent initializations; the lowest-loss run is kept "
                          + _per_mode_default("n_init"))
    fit.add_argument("--init", choices=["auto", "random", "spectral", "graph"], default="auto",
                     help="start of each run: 'spectral' fits the network to a spectral clustering of "
                          "graph-smoothed features first (of the graph itself without features), 'graph' to "
                          "that of the graph itself; 'auto' is 'spectral' (default: auto)")
    fit.add_argument("--seed", type=int, default=0,
                     help="random seed (default: 0; NeuNcut.fit draws a fresh one without it, the command line "
                          "is reproducible)")
    fit.add_argument("--out", required=True, help="output directory (checkpoint, assignments.csv, plots)")
    fit.add_argument("--plot", action="store_true", help="also write loss.png, cluster_sizes.png, confusion.png")
    fit.add_argument("--quiet", action="store_true", help="no progress bars (reading, training)")
    _dataset_options(fit)
    fit.set_defaults(func=_cmd_fit)

    assign = sub.add_parser("assign", help="assign every node of a graph with a trained model (no retraining)")
    assign.add_argument("--model", required=True, help="checkpoint directory written by `neuncut fit`")
    assign.add_argument("--edges", required=True, help="edge list of the graph to assign (may hold new nodes)")
    assign.add_argument("--features", help="node features (required when the model was trained on features); "
                                           "ids the edge list lacks become nodes without edges")
    assign.add_argument("--nodes", metavar="FILE", help="node list: ids the edge list lacks become nodes without "
                                                        "edges (models trained without --features)")
    assign.add_argument("--out", required=True, help="output CSV: node_id,cluster,confidence")
    assign.add_argument("--quiet", action="store_true", help="no progress bars")
    assign.set_defaults(func=_cmd_assign)

    evaluate = sub.add_parser("evaluate", help="print the scores of an assignments file")
    evaluate.add_argument("--assignments", required=True, help="CSV node_id,cluster[,confidence]")
    graph = evaluate.add_mutually_exclusive_group(required=True)
    graph.add_argument("--edges", help="edge list of the graph")
    graph.add_argument("--dataset", help="a dataset name, as for fit (its labels are used)")
    evaluate.add_argument("--labels", help="CSV node_id,label of ground-truth classes")
    evaluate.add_argument("--nodes", metavar="FILE|N",
                          help=_NODES_HELP.format(" (the features or the assignments file serves)"))
    evaluate.add_argument("--seed", type=int, default=0, help="synthetic: generator seed (default: 0)")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars")
    _dataset_options(evaluate)
    evaluate.set_defaults(func=_cmd_evaluate)
    return parser


def _one_line(message: str) -> str:
    return re.sub(r"\s*\n\s*", " ", str(message)).strip()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the ``neuncut`` command line; returns the exit status.

    Args:
        argv (Sequence[str], optional): The arguments (default: ``sys.argv[1:]``).

    Returns:
        int: ``0`` on success, ``2`` for bad input or usage, ``1`` when an output cannot be written.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        # Notices torch prints when the model reads sparse features as CSR: expected, harmless.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Runs a parsed sub-command, turning bad input into a one-line error and an exit status."""
    try:
        return args.func(args)
    except (CommandError, InputError, CheckpointError, DatasetNotFoundError) as err:
        print(f"{PROG}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except ValueError as err:  # the library's validation of settings and shapes
        print(f"{PROG}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"{PROG}: error: {_one_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
