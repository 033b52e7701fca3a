"""NeuNcut next to spectral clustering on planted-partition graphs of OGB sizes: every method on
the same graph, in one run, each in its own process (so that its peak memory is its own).

For each size: one graph from :func:`neuncut_pyg.generators.planted_partition_graph`, then

- ``spectral``: spectral clustering, ARPACK ``eigsh`` on the (regularized) normalized adjacency
  + k-means (:func:`neuncut_pyg.spectral_clustering`);
- ``start``: NeuNcut's start alone, the spectral clustering of graph-smoothed features
  (:func:`neuncut_pyg.start.spectral_start`), so that what NeuNcut's training adds can be read;
- ``full``: NeuNcut full batch, the recipe for graphs that fit in memory: ``encoder="mlp"`` on
  the start's smoothed features, dropout 0, ``--epochs`` Ncut epochs at ``--lr`` (default 3 at
  1e-2), one run;
- ``mini-mlp`` / ``mini-gcn`` / ``mini-sage``: NeuNcut with the library's defaults and
  ``fit(data, batch_size=B)``, then ``predict(data, batch_size=B)``: the mini-batch path, for
  graphs whose full-batch step does not fit in memory;
- ``full-auto-k`` (only when named in ``--methods``): ``full`` with ``num_clusters="auto"``, the
  row's name saying which k the Bethe-Hessian count chose
  (:func:`neuncut_pyg.start.graph.choose_num_clusters`).

Columns: wall seconds (fit and assignment of every node), peak resident memory of the method's
process (which holds the graph) and its increase over the memory before the method started,
NMI against the planted communities, discrete normalized cut (lower is better), non-empty
clusters, Ncut epochs run and the median seconds per epoch.

``--epoch-scaling`` adds a table of seconds per full-batch epoch on four graph sizes of the same
average degree, with the least-squares fit ``seconds = a + b * edges`` and the log-log slope.

    python benchmarks/scale.py                              # arxiv size, every method
    python benchmarks/scale.py --sizes products --methods spectral start full mini-mlp
    python benchmarks/scale.py --epoch-scaling --sizes      # only the epoch-cost table
    python benchmarks/scale.py --methods full-auto-k --name scale_arxiv_auto_k

Writes ``<name>.md`` (and ``<name>.png`` with ``--plot``) into ``--out``, the command under the
tables; ``--name`` defaults to ``scale_<sizes>`` (``scale_epochs`` for the epoch table alone).
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import psutil
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from neuncut_pyg.adjacency import to_sparse_adjacency  # noqa: E402
from neuncut_pyg.baselines import spectral_clustering  # noqa: E402
from neuncut_pyg.generators import planted_partition_graph  # noqa: E402
from neuncut_pyg.metrics import nmi, normalized_cut  # noqa: E402
from neuncut_pyg.models import NeuNcut  # noqa: E402
from neuncut_pyg.start import spectral_start  # noqa: E402

# name -> (num_nodes, num_communities, avg_degree, num_features): ogbn-arxiv's and ogbn-products'
# node counts, label counts, average (undirected) degrees and feature sizes.
SIZES: Dict[str, Tuple[int, int, float, int]] = {
    "small": (20_000, 20, 13.7, 128),
    "arxiv": (169_343, 40, 13.7, 128),
    "products": (2_449_029, 47, 50.5, 100),
}


class PeakMemory:
    """Peak resident set size of this process while the ``with`` block runs (20 ms sampling)."""

    def __init__(self) -> None:
        self._process = psutil.Process(os.getpid())
        self._stop = threading.Event()
        self.before = self.peak = 0

    def _poll(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> "PeakMemory":
        self.before = self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


#: The methods ``--methods`` chooses from, in table order.
METHODS = ("spectral", "start", "full", "mini-mlp", "mini-gcn", "mini-sage", "full-auto-k")
#: Run only when asked for (``--methods``): not part of the comparison of paths.
OPTIONAL_METHODS = ("full-auto-k",)


def run_method(method: str, data, k: int, args) -> Tuple[str, np.ndarray, Optional[object]]:
    """Runs one method on ``data``: ``(row name, labels, loss history or None)``."""
    if method == "spectral":
        return "spectral clustering (eigsh + k-means)", spectral_clustering(data.edge_index, data.num_nodes, k,
                                                                             seed=args.seed), None
    if method == "start":
        adj = to_sparse_adjacency(data.edge_index, num_nodes=data.num_nodes)
        return "the start alone (spectral clustering of smoothed features)", \
            spectral_start(data.x, adj, k, seed=args.seed).labels, None
    if method in ("full", "full-auto-k"):
        model = NeuNcut(data.num_features, k if method == "full" else "auto", encoder="mlp",
                        hidden_channels=args.hidden, dropout=0.0)
        labels = model.fit_predict(data, epochs=args.epochs, lr=args.lr, n_init=1, seed=args.seed,
                                   progress=not args.quiet)
        chosen = "" if method == "full" else f', num_clusters="auto": k = {model.num_clusters_}'
        return f"NeuNcut full batch (mlp, dropout 0, {args.epochs} epochs, lr {args.lr:g}, 1 run{chosen})", \
            labels.numpy(), model.loss_history_
    encoder = method.split("-")[1]
    model = NeuNcut(data.num_features, k, encoder=encoder)
    model.fit(data, batch_size=args.batch_size, seed=args.seed, progress=not args.quiet)
    labels = model.predict(data, batch_size=args.batch_size)
    return f"NeuNcut mini-batch ({encoder}, defaults, batches of {args.batch_size})", labels.numpy(), \
        model.loss_history_


def _child(method: str, graph_file: str, k: int, args, queue) -> None:
    """One method in a fresh process: its peak memory is its own."""
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*(pyg-lib|Sparse CSR|Sparse invariant).*")
    queue.put(measure(method, torch.load(graph_file, weights_only=False), k, args))


def measure(method: str, data, k: int, args) -> Dict[str, object]:
    """One method's row of the table."""
    start = time.perf_counter()
    with PeakMemory() as memory:
        name, labels, history = run_method(method, data, k, args)
    seconds = time.perf_counter() - start
    labels_t = torch.as_tensor(labels)
    return {
        "method": name,
        "seconds": seconds,
        "peak_gib": memory.peak / 2**30,
        "added_gib": (memory.peak - memory.before) / 2**30,
        "NMI": nmi(data.y, labels_t),
        "Ncut": normalized_cut(labels_t, data.edge_index),
        "clusters": int(np.unique(labels).size),
        "epochs": None if history is None else len(history),
        "epoch_s": None if history is None else float(np.median(history.seconds)),
    }


def compare(size: str, args) -> Tuple[str, List[Dict[str, object]]]:
    num_nodes, k, avg_degree, num_features = SIZES[size]
    start = time.perf_counter()
    data = planted_partition_graph(num_nodes, k, avg_degree, mixing=args.mixing, num_features=num_features,
                                   feature_noise=args.feature_noise, seed=args.seed)
    print(f"[{size}] graph: {num_nodes:,} nodes, {data.edge_index.size(1) // 2:,} undirected edges, "
          f"{k} communities, mixing {args.mixing}, feature noise {args.feature_noise} "
          f"({time.perf_counter() - start:.0f} s to generate)", flush=True)
    rows = []
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        graph_file = os.path.join(tmp, "graph.pt")
        torch.save(data, graph_file)
        for method in args.methods:
            if args.in_process:
                rows.append(measure(method, data, k, args))
                continue
            queue = context.Queue()
            child = context.Process(target=_child, args=(method, graph_file, k, args, queue))
            child.start()
            rows.append(queue.get())
            child.join()
            print(f"[{size}] {method}: {rows[-1]['seconds']:.1f} s, NMI {rows[-1]['NMI']:.3f}", flush=True)
    title = (f"{size}: {num_nodes:,} nodes, {data.edge_index.size(1) // 2:,} undirected edges, {k} communities, "
             f"mixing {args.mixing}, feature noise {args.feature_noise}")
    return title, rows


def pyg_sampler() -> str:
    """Which neighbour sampler PyG's NeighborLoader uses here."""
    from torch_geometric.typing import WITH_PYG_LIB

    return "NeighborLoader on pyg-lib" if WITH_PYG_LIB else "NeighborLoader on torch-sparse"


def _seconds(seconds: float) -> str:
    # Tiny graphs finish in milliseconds; one decimal would print them as 0.0.
    return f"{seconds:.1f}" if seconds >= 10 else f"{seconds:.3f}"


def markdown(title: str, rows: List[Dict[str, object]]) -> str:
    lines = [f"### {title}", "",
             "| method | seconds | peak RSS (GiB) | added (GiB) | NMI | Ncut | clusters | epochs | s / epoch |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        epochs = "" if r["epochs"] is None else str(r["epochs"])
        per_epoch = "" if r["epoch_s"] is None else f"{r['epoch_s']:.3f}"
        lines.append(f"| {r['method']} | {_seconds(r['seconds'])} | {r['peak_gib']:.2f} | {r['added_gib']:.2f} | "
                     f"{r['NMI']:.3f} | {r['Ncut']:.3f} | {r['clusters']} | {epochs} | {per_epoch} |")
    return "\n".join(lines) + "\n"


def epoch_scaling(args) -> str:
    """Seconds per epoch on four sizes of arxiv's degree; the fitted line and log-log slope."""
    sizes = [25_000, 50_000, 100_000, 200_000]
    rows = []
    for n in sizes:
        data = planted_partition_graph(n, 40, 13.7, mixing=args.mixing, num_features=128,
                                       feature_noise=args.feature_noise, seed=args.seed)
        model = NeuNcut(128, 40, encoder="mlp", hidden_channels=args.hidden, dropout=0.0)
        epochs = 11

        def timed_fit(num_epochs: int) -> float:
            start = time.perf_counter()
            model.fit(data, epochs=num_epochs, lr=args.lr, n_init=1, seed=0, init="random", progress=False)
            return time.perf_counter() - start

        timed_fit(1)  # warm-up
        # fit() also builds the graph structures and scores the final partition once: the
        # difference of an 11-epoch and a 1-epoch fit leaves 10 epochs. Best of two of each, as
        # timeit does, against the noise of a shared machine.
        total = min(timed_fit(epochs) for _ in range(2))
        one = min(timed_fit(1) for _ in range(2))
        per_epoch = (total - one) / (epochs - 1)
        rows.append((n, data.edge_index.size(1), per_epoch))
        print(f"[epochs] {n:,} nodes: {per_epoch:.3f} s/epoch", flush=True)
    edges = np.array([r[1] for r in rows], dtype=float)
    seconds = np.array([r[2] for r in rows])
    slope, intercept = np.polyfit(edges, seconds, 1)
    fitted = intercept + slope * edges
    r2 = 1 - ((seconds - fitted) ** 2).sum() / ((seconds - seconds.mean()) ** 2).sum()
    loglog = np.polyfit(np.log(edges), np.log(seconds), 1)[0]
    lines = [f"### Seconds per full-batch epoch (NeuNcut, mlp, dropout 0, lr {args.lr:g}; arxiv's degree, "
             "40 communities; the difference of an 11-epoch and a 1-epoch fit, best of two)", "",
             "| nodes | stored edges | s / epoch | s per 1M edges |", "|---|---|---|---|"]
    for n, e, s in rows:
        lines.append(f"| {n:,} | {e:,} | {s:.3f} | {s / e * 1e6:.3f} |")
    lines += ["", f"Fit: seconds = {intercept:.3f} + {slope * 1e6:.4f} x (million edges), R^2 = {r2:.4f}; "
                  f"log-log slope {loglog:.2f} (1.0 = linear)."]
    return "\n".join(lines) + "\n"


def plot(results: List[Tuple[str, List[Dict[str, object]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for metric, ax in zip(("seconds", "NMI", "Ncut"), axes):
        labels, values = [], []
        for title, rows in results:
            for r in rows:
                labels.append(f"{title.split(':')[0]}\n{r['method'].split(' (')[0]}")
                values.append(r[metric])
        ax.bar(range(len(values)), values, color=["tab:gray" if "spectral" in lbl else "tab:blue" for lbl in labels])
        ax.set_xticks(range(len(values)), labels, fontsize=8)
        ax.set_title(metric)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=["arxiv"], choices=sorted(SIZES))
    parser.add_argument("--mixing", type=float, default=0.5)
    parser.add_argument("--feature-noise", type=float, default=8.0,
                        help="feature noise sigma (features carry little alone above ~sqrt(F))")
    parser.add_argument("--methods", nargs="+", default=[m for m in METHODS if m not in OPTIONAL_METHODS],
                        choices=METHODS,
                        help="methods to run, each in its own process (default: all)")
    parser.add_argument("--hidden", type=int, default=128, help="the full-batch recipe's width (default: 128)")
    parser.add_argument("--epochs", type=int, default=3,
                        help="the full-batch recipe's Ncut epochs after the start (default: 3)")
    parser.add_argument("--lr", type=float, default=1e-2, help="the full-batch recipe's learning rate")
    parser.add_argument("--batch-size", type=int, default=4096, help="mini-batch seeds (default: 4096)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the methods in this process (peaks then include earlier methods' memory)")
    parser.add_argument("--epoch-scaling", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--plot", action="store_true", help="also write scale.png")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--name", default=None, help="results file stem (default: scale_<sizes>)")
    args = parser.parse_args(argv)
    name = args.name or "scale_" + ("_".join(args.sizes) or "epochs")
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*(pyg-lib|Sparse CSR|Sparse invariant).*")

    results = [compare(size, args) for size in args.sizes]
    text = "".join(markdown(title, rows) + "\n" for title, rows in results)
    if args.epoch_scaling:
        text += epoch_scaling(args) + "\n"
    command = " ".join(["python", "benchmarks/scale.py"] + list(argv if argv is not None else sys.argv[1:]))
    text += f"Written by `{command}` ({torch.get_num_threads()} torch threads, {pyg_sampler()}).\n"
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.md").write_text(text)
    if args.plot and results:
        plot(results, args.out / f"{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
