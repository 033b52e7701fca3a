"""NeuNcut next to spectral clustering on planted-partition graphs of OGB sizes, in one process.

For each size: one graph from :func:`neuncut_pyg.generators.planted_partition_graph`, then, on
that same graph and in the same run,

- spectral clustering: ARPACK ``eigsh`` on the (regularized) normalized adjacency + k-means
  (:func:`neuncut_pyg.spectral_clustering`);
- NeuNcut: training (full-batch or ``NeighborLoader`` mini-batches) and the assignment of every
  node (:meth:`NeuNcut.fit_predict`: the memberships of the final pass over all nodes, in
  batches when training was; equal to :meth:`NeuNcut.predict`).

Columns: wall seconds, peak resident memory while the method ran (sampled every 20 ms; it
includes the graph, which both share) and its increase over the resident memory before the
method started, NMI against the planted communities, discrete normalized cut (lower is better),
number of non-empty clusters.

``--epoch-scaling`` adds a table of seconds per training epoch on four graph sizes of the same
average degree, with the least-squares fit ``seconds = a + b * edges`` and the log-log slope
(1.0 is linear).

    python benchmarks/scale.py                          # arxiv size
    python benchmarks/scale.py --sizes arxiv products   # products size takes ~16 min on 2 idle cores
    python benchmarks/scale.py --epoch-scaling --sizes  # only the epoch-cost table

Writes ``scale.md`` (and ``scale.png`` with ``--plot``) into ``--out``.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import psutil
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from neuncut_pyg.baselines import spectral_clustering  # noqa: E402
from neuncut_pyg.generators import planted_partition_graph  # noqa: E402
from neuncut_pyg.metrics import nmi, normalized_cut  # noqa: E402
from neuncut_pyg.models import NeuNcut  # noqa: E402

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


def measure(run: Callable[[], np.ndarray], data, name: str) -> Dict[str, object]:
    start = time.perf_counter()
    with PeakMemory() as memory:
        labels = np.asarray(run())
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
    }


def neuncut_runner(data, k: int, args) -> Callable[[], np.ndarray]:
    def run() -> np.ndarray:
        model = NeuNcut(data.num_features, k, encoder=args.encoder, hidden_channels=args.hidden, dropout=args.dropout,
                        propagation_steps=args.propagation_steps if args.encoder == "mlp" else None)
        labels = model.fit_predict(data, epochs=args.epochs, lr=args.lr, n_init=args.n_init, seed=args.seed,
                                   init=args.init, batch_size=args.batch_size,
                                   num_neighbors=args.num_neighbors if args.batch_size else None,
                                   progress=not args.quiet)
        return labels.numpy()

    return run


def describe(args) -> str:
    mode = "full batch" if args.batch_size is None else f"batches of {args.batch_size}, fan-out {args.num_neighbors or 10}"
    extra = f", propagation steps {args.propagation_steps}" if args.encoder == "mlp" else ""
    return (f"NeuNcut ({args.encoder}{extra}, dropout {args.dropout:g}, {args.epochs} epochs, {mode}, lr {args.lr:g}, "
            f"n_init {args.n_init}, init {args.init})")


def compare(size: str, args) -> Tuple[str, List[Dict[str, object]]]:
    num_nodes, k, avg_degree, num_features = SIZES[size]
    start = time.perf_counter()
    data = planted_partition_graph(num_nodes, k, avg_degree, mixing=args.mixing, num_features=num_features,
                                   feature_noise=args.feature_noise, seed=args.seed)
    print(f"[{size}] graph: {num_nodes:,} nodes, {data.edge_index.size(1) // 2:,} undirected edges, "
          f"{k} communities, mixing {args.mixing}, feature noise {args.feature_noise} "
          f"({time.perf_counter() - start:.0f} s to generate)", flush=True)
    rows = []
    if not args.skip_spectral:
        rows.append(measure(lambda: spectral_clustering(data.edge_index, num_nodes, k, seed=args.seed), data,
                            "spectral clustering (eigsh + k-means)"))
        print(f"[{size}] spectral clustering done in {rows[-1]['seconds']:.0f} s", flush=True)
    rows.append(measure(neuncut_runner(data, k, args), data, describe(args)))
    title = (f"{size}: {num_nodes:,} nodes, {data.edge_index.size(1) // 2:,} undirected edges, {k} communities, "
             f"mixing {args.mixing}, feature noise {args.feature_noise}")
    return title, rows


def _seconds(seconds: float) -> str:
    # Tiny graphs finish in milliseconds; one decimal would print them as 0.0.
    return f"{seconds:.1f}" if seconds >= 10 else f"{seconds:.3f}"


def markdown(title: str, rows: List[Dict[str, object]]) -> str:
    lines = [f"### {title}", "", "| method | seconds | peak RSS (GiB) | added (GiB) | NMI | Ncut | clusters |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {_seconds(r['seconds'])} | {r['peak_gib']:.2f} | {r['added_gib']:.2f} | "
                     f"{r['NMI']:.3f} | {r['Ncut']:.3f} | {r['clusters']} |")
    return "\n".join(lines) + "\n"


def epoch_scaling(args) -> str:
    """Seconds per epoch on four sizes of arxiv's degree; the fitted line and log-log slope."""
    sizes = [25_000, 50_000, 100_000, 200_000]
    rows = []
    for n in sizes:
        data = planted_partition_graph(n, 40, 13.7, mixing=args.mixing, num_features=128,
                                       feature_noise=args.feature_noise, seed=args.seed)
        model = NeuNcut(128, 40, encoder=args.encoder, hidden_channels=args.hidden, dropout=args.dropout)
        epochs = 11

        def timed_fit(num_epochs: int) -> float:
            start = time.perf_counter()
            model.fit(data, epochs=num_epochs, lr=args.lr, n_init=1, seed=0, init="random",
                      batch_size=args.batch_size, progress=False)
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
    lines = [f"### Seconds per epoch ({describe(args)}; arxiv's degree, 40 communities)", "",
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


def _steps(text: str):
    return text if text == "auto" else int(text)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=["arxiv"], choices=sorted(SIZES))
    parser.add_argument("--mixing", type=float, default=0.5)
    parser.add_argument("--feature-noise", type=float, default=8.0,
                        help="feature noise sigma (features carry little alone above ~sqrt(F))")
    parser.add_argument("--encoder", default="mlp", choices=["mlp", "gcn", "sage"])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--propagation-steps", type=_steps, default="auto",
                        help="the MLP's propagation depth, or 'auto': the spectral start's (default: auto)")
    parser.add_argument("--dropout", type=float, default=0.0,
                        help="NeuNcut's dropout (default 0 here: on CPU torch's dropout mask costs 0.4 s "
                             "of a 0.5 s full-batch epoch at arxiv size)")
    parser.add_argument("--epochs", type=int, default=3,
                        help="Ncut epochs after the start (default: 3; 5 gave the same NMI and Ncut to within "
                             "0.005 and 0.2%% at both sizes, at 15-45 s more)")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--batch-size", type=int, default=None, help="mini-batch seeds (default: full batch)")
    parser.add_argument("--num-neighbors", type=int, nargs="+", default=None,
                        help="mini-batch fan-out per hop (default: NeuNcut.fit's, 10)")
    parser.add_argument("--n-init", type=int, default=1)
    parser.add_argument("--init", choices=["auto", "random", "spectral"], default="auto",
                        help="NeuNcut.fit's start (default: auto: spectral full-batch, random in mini-batches)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--skip-spectral", action="store_true")
    parser.add_argument("--epoch-scaling", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--plot", action="store_true", help="also write scale.png")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*(pyg-lib|Sparse CSR|Sparse invariant).*")

    results = [compare(size, args) for size in args.sizes]
    text = "".join(markdown(title, rows) + "\n" for title, rows in results)
    if args.epoch_scaling:
        text += epoch_scaling(args)
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.md").write_text(text)
    if args.plot and results:
        plot(results, args.out / "scale.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
