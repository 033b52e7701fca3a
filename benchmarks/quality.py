r"""Clustering quality of NeuNcut next to the usual baselines, on Cora and CiteSeer (issue 4).

One run, one process per dataset, the same seeds for every method:

- **NeuNcut**, once per built-in encoder (``ENCODERS``: ``"gcn"``, ``"sage"``, and ``"mlp"`` on
  propagated features), with its defaults (``gamma="auto"``, ``init="auto"``: the spectral start);
- **k-means on features** (:func:`~neuncut_pyg.kmeans_features`);
- **spectral clustering** (:func:`~neuncut_pyg.spectral_clustering`, regularized);
- **DMoN** (PyG's :class:`torch_geometric.nn.DMoNPooling`) and **MinCutPool** (PyG's
  :func:`torch_geometric.nn.dense.dense_mincut_pool`), each trained on the encoder and budget of
  NeuNcut's defaults: one GCN layer of 128 channels, SELU, dropout 0.5, a linear head to ``k``,
  Adam at 1e-3 for 300 epochs, ``n_init`` restarts of which the lowest final loss (each method's
  own) is kept. The adjacency is dense for these two (fine at Cora / CiteSeer size). DMoN's loss
  is its paper's: spectral (modularity) loss + collapse regularization; MinCutPool's is its
  mincut + orthogonality losses;
- **Louvain** (``networkx.community.louvain_communities``, seeded): it picks its own number of
  communities (reported in the ``k`` column), which the label scores do not adjust for;
- **spectral clustering of smoothed features**
  (:func:`~neuncut_pyg.start.smoothed_feature_clustering`): the partition NeuNcut's default
  ``init="spectral"`` starts from, shown on its own so that what NeuNcut's training adds (or
  does not) is visible;
- **NeuNcut (gcn, init=random)**: NeuNcut's default model from random parameters, as in the
  paper. ``--no-random-init`` leaves it out.

Every method sees the number of classes as ``k`` (except Louvain) and nothing else of the labels:
labels are read only to score. Scores (:func:`~neuncut_pyg.evaluate_clustering`): NMI, ACC
(Hungarian), ARI, pairwise F1, and the graph's normalized cut, modularity and conductance of the
partition; ``seconds`` is the wall time of one seed's fit + predict. Cells are mean ± std over
seeds.

Usage::

    python benchmarks/quality.py                               # Cora + CiteSeer, 5 seeds
    python benchmarks/quality.py --datasets cora --seeds 3
    python benchmarks/quality.py --quick                       # smoke test: 1 seed, 20 epochs
    python benchmarks/quality.py --root /path/to/data --out benchmarks/results --jobs 2

Writes ``<out>/quality.md`` (the table) and ``<out>/quality.png`` (NMI / ACC bars per method and
dataset). ``--jobs 2`` runs the datasets in two processes (one torch thread each).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(REPO))

from neuncut_pyg.baselines import kmeans_features, spectral_clustering  # noqa: E402
from neuncut_pyg.start import smoothed_feature_clustering  # noqa: E402
from neuncut_pyg.data import DATA_ROOT_ENV, DatasetNotFoundError, load_planetoid  # noqa: E402
from neuncut_pyg.metrics import evaluate_clustering  # noqa: E402
from neuncut_pyg.models import NeuNcut  # noqa: E402
from harness import ResultsFile, command_line, settle_counts  # noqa: E402

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")

METRICS = ["NMI", "ACC", "ARI", "F1", "Ncut", "Modularity", "Conductance", "seconds"]
#: Encoders of NeuNcut to benchmark, in this order; those NeuNcut does not accept are skipped.
ENCODERS = ["gcn", "sage", "mlp"]
DATASETS = {"cora": "Cora", "citeseer": "CiteSeer"}
RANDOM_INIT_NAME = "NeuNcut (gcn, init=random)"
SMOOTHED_SPECTRAL_NAME = "spectral clustering of smoothed features"

# (mean, std) of each metric, plus the number of clusters found, per method.
Summary = Dict[str, Tuple[float, float]]


# ---------------------------------------------------------------------------------------------
# Methods: each maps (data, k, seed, settings) to labels [N]
# ---------------------------------------------------------------------------------------------
def available_encoders(candidates: Sequence[str] = ENCODERS) -> List[str]:
    """The encoder names NeuNcut's constructor accepts, among ``candidates``."""
    accepted = []
    for name in candidates:
        try:
            NeuNcut(4, 2, encoder=name)
        except (ValueError, TypeError, KeyError):
            continue
        accepted.append(name)
    return accepted


def neuncut_method(encoder: str) -> Callable:
    def run(data, k, seed, settings):
        model = NeuNcut(data.num_features, k, encoder=encoder)
        model.fit(data, epochs=settings["epochs"], n_init=settings["n_init"], seed=seed, progress=False)
        return model.predict(data)
    return run


def kmeans_method(data, k, seed, settings):
    return kmeans_features(data.x, k, seed=seed)


def spectral_method(data, k, seed, settings):
    return spectral_clustering(data.edge_index, data.num_nodes, k, seed=seed)


def louvain_method(data, k, seed, settings):
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(range(data.num_nodes))
    graph.add_edges_from(data.edge_index.t().tolist())
    labels = np.zeros(data.num_nodes, dtype=np.int64)
    for cid, community in enumerate(nx.community.louvain_communities(graph, seed=seed)):
        labels[list(community)] = cid
    return labels


def _maybe_csr(x: torch.Tensor) -> torch.Tensor:
    """Bag-of-words features as sparse CSR, as NeuNcut's GCN encoder takes them (about 5x faster
    first layer on CPU); denser features stay dense."""
    return x.to_sparse_csr() if int(torch.count_nonzero(x)) <= 0.05 * x.numel() else x


class _GCNHead(torch.nn.Module):
    """NeuNcut's default encoder for the pooling baselines: GCN(128) -> SELU -> dropout -> Linear(k)."""

    def __init__(self, in_channels: int, k: int, hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.conv = GCNConv(in_channels, hidden)
        self.dropout = dropout
        self.hidden = hidden
        self.head = torch.nn.Linear(hidden, k)

    def embed(self, x, edge_index):
        h = torch.selu(self.conv(x, edge_index))
        return torch.nn.functional.dropout(h, self.dropout, self.training)


def _train_pooling(data, k, seed, settings, kind: str):
    """DMoN or MinCutPool on the GCN encoder, ``n_init`` restarts, lowest final own loss kept."""
    from torch_geometric.nn import DMoNPooling
    from torch_geometric.nn.dense import dense_mincut_pool
    from torch_geometric.utils import to_dense_adj

    adj = to_dense_adj(data.edge_index, max_num_nodes=data.num_nodes)  # [1, N, N]
    x = _maybe_csr(data.x)

    def forward(model, pool):
        h = model.embed(x, data.edge_index)
        if kind == "dmon":
            s, _, _, spectral, _, collapse = pool(h, adj)
            return s[0], spectral + collapse
        logits = model.head(h)
        _, _, mincut, ortho = dense_mincut_pool(h, adj, logits)
        return logits.softmax(-1), mincut + ortho

    best, best_loss = None, math.inf
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for _ in range(settings["n_init"]):
            model = _GCNHead(data.num_features, k)
            pool = DMoNPooling(model.hidden, k) if kind == "dmon" else None  # its own Linear(128, k)
            params = list(model.parameters()) + (list(pool.parameters()) if pool is not None else [])
            optimizer = torch.optim.Adam(params, lr=1e-3)
            for _ in range(settings["epochs"]):
                model.train()
                optimizer.zero_grad()
                _, loss = forward(model, pool)
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                s, loss = forward(model, pool)
            if float(loss) < best_loss:
                best, best_loss = s.argmax(-1), float(loss)
    return best


def dmon_method(data, k, seed, settings):
    return _train_pooling(data, k, seed, settings, "dmon")


def mincut_method(data, k, seed, settings):
    return _train_pooling(data, k, seed, settings, "mincut")


def neuncut_random_init_method(data, k, seed, settings):
    """NeuNcut's default model started from random parameters (``init="random"``), the start the
    paper uses, to show what the spectral start adds."""
    model = NeuNcut(data.num_features, k)
    model.fit(data, epochs=settings["epochs"], n_init=settings["n_init"], seed=seed, init="random", progress=False)
    return model.predict(data)


def smoothed_spectral_method(data, k, seed, settings):
    return smoothed_feature_clustering(data.x, data.edge_index, k, seed=seed).labels


def methods(encoders: Sequence[str], random_init: bool = True) -> Dict[str, Callable]:
    """The benchmarked methods by display name, NeuNcut first."""
    table: Dict[str, Callable] = {f"NeuNcut ({name})": neuncut_method(name) for name in encoders}
    if random_init:
        table[RANDOM_INIT_NAME] = neuncut_random_init_method
    table.update({
        "k-means (features)": kmeans_method,
        "spectral clustering": spectral_method,
        SMOOTHED_SPECTRAL_NAME: smoothed_spectral_method,
        "DMoN (PyG)": dmon_method,
        "MinCutPool (PyG)": mincut_method,
        "Louvain": louvain_method,
    })
    return table


# ---------------------------------------------------------------------------------------------
# Running and summarizing
# ---------------------------------------------------------------------------------------------
def summarize(runs: List[Dict[str, float]]) -> Summary:
    """Mean and (population) standard deviation of each score over runs; ``k``: clusters found."""
    keys = [m for m in METRICS + ["k"] if all(m in r for r in runs)]
    return {m: (float(np.mean([r[m] for r in runs])), float(np.std([r[m] for r in runs]))) for m in keys}


def run_dataset(name: str, root: Path, seeds: int, settings: Dict[str, int], encoders: Sequence[str],
                progress: bool = True, position: int = 0, random_init: bool = True,
                partial: Optional[Path] = None) -> Dict[str, Summary]:
    """Every method on one dataset over ``seeds`` seeds: ``{method: summary}``. With ``partial``,
    the table so far is rewritten there after each method (removed by :func:`main` at the end)."""
    torch.set_num_threads(1)
    from tqdm.auto import tqdm

    data = load_planetoid(DATASETS[name], root)
    k = int(data.y.max()) + 1
    table = methods(encoders, random_init)
    results: Dict[str, Summary] = {}
    bar = tqdm(total=len(table) * seeds, desc=DATASETS[name], disable=not progress, position=position,
               leave=True, dynamic_ncols=True)
    # Run the default NeuNcut, its random start and the baselines before the other encoders, so
    # that a run cut short still leaves the main comparison in the partial table; display order is kept.
    first = [m for m in ("NeuNcut (gcn)", RANDOM_INIT_NAME) if m in table]
    baselines = [m for m in table if not m.startswith("NeuNcut (")]
    order = first + baselines + [m for m in table if m not in first and m not in baselines]
    for method in order:
        fn = table[method]
        runs = []
        for seed in range(seeds):
            bar.set_postfix_str(f"{method}, seed {seed}")
            start = time.perf_counter()
            labels = fn(data, k, seed, settings)
            seconds = time.perf_counter() - start
            labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
            scores = evaluate_clustering(labels, data.edge_index, y_true=data.y)
            scores["seconds"] = seconds
            scores["k"] = float(np.unique(labels).size)
            runs.append(scores)
            bar.update(1)
        results[method] = summarize(runs)
        if partial is not None:
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(format_markdown({DATASETS[name]: results}, seeds))
    bar.close()
    return {method: results[method] for method in table}


def format_markdown(results: Dict[str, Dict[str, Summary]], seeds: int) -> str:
    """The results as Markdown: one table per dataset, methods as rows, ``mean ± std`` cells.

    ``results`` maps a dataset name to ``{method: {metric: (mean, std)}}``; metrics missing from
    a method are shown as ``–``. Ncut and conductance: lower is better; others: higher.
    """
    lines: List[str] = []
    header = ["method"] + METRICS + ["k"]
    for dataset, rows in results.items():
        lines.append(f"### {dataset} ({seeds} seed{'s' if seeds != 1 else ''}, mean ± std)")
        lines.append("")
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|---" + "|---:" * (len(header) - 1) + "|")
        for method, scores in rows.items():
            cells = [method]
            for metric in METRICS + ["k"]:
                if metric not in scores:
                    cells.append("–")
                    continue
                mean, std = scores[metric]
                if metric == "seconds":
                    cells.append(f"{mean:.1f} ± {std:.1f}")
                elif metric == "k":
                    cells.append(f"{mean:.0f}" if std == 0 else f"{mean:.1f}")
                else:
                    cells.append(f"{mean:.3f} ± {std:.3f}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def plot(path: Path, results: Dict[str, Dict[str, Summary]]) -> None:
    """Bar chart of NMI and ACC per method, one panel per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 4.5), squeeze=False)
    for ax, (dataset, rows) in zip(axes[0], results.items()):
        names = list(rows)
        positions = np.arange(len(names))
        for offset, metric in ((-0.2, "NMI"), (0.2, "ACC")):
            ax.bar(positions + offset, [rows[n][metric][0] for n in names], 0.4,
                   yerr=[rows[n][metric][1] for n in names], capsize=3, label=metric)
        ax.set_xticks(positions, names, rotation=35, ha="right")
        ax.set_ylim(0, 1)
        ax.set_title(dataset)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS),
                        help="datasets to run (default: cora citeseer)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..seeds-1 (default: 5, 1 with --quick)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of the neural methods (default: 300, 20 with --quick)")
    parser.add_argument("--n-init", type=int, default=None, help="restarts of the neural methods (default: 3, 1 with --quick)")
    parser.add_argument("--root", type=Path, default=None,
                        help=f"data root holding Planetoid/<Name>/raw (default: ${DATA_ROOT_ENV}, else datasets/)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="output directory")
    parser.add_argument("--encoders", nargs="+", default=ENCODERS,
                        help=f"NeuNcut encoders to try (default: {' '.join(ENCODERS)}; unsupported ones are skipped)")
    parser.add_argument("--jobs", type=int, default=1, help="datasets run in parallel processes (default: 1)")
    parser.add_argument("--no-random-init", action="store_true",
                        help=f"leave out the '{RANDOM_INIT_NAME}' row")
    parser.add_argument("--quick", action="store_true", help="1 seed, 20 epochs, 1 restart: a smoke test")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    args = parser.parse_args(argv)
    settle_counts(parser, args, {"seeds": (1, 5), "epochs": (20, 300), "n_init": (1, 3)}, positive=("jobs",))
    return args


def main(argv: Optional[List[str]] = None) -> int:
    command = command_line("quality", argv)
    args = parse_args(argv)
    root = args.root or Path(os.environ.get(DATA_ROOT_ENV) or REPO / "datasets")
    encoders = available_encoders(args.encoders)
    skipped = sorted(set(args.encoders) - set(encoders))
    if skipped:
        print(f"NeuNcut does not accept encoder(s) {skipped}: skipped", file=sys.stderr)
    settings = {"epochs": args.epochs, "n_init": args.n_init}
    progress = not args.no_progress
    try:
        for name in args.datasets:  # fail early, in this process, on missing data
            load_planetoid(DATASETS[name], root)
    except DatasetNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1

    results: Dict[str, Dict[str, Summary]] = {}
    partials = {name: args.out / f"quality_{DATASETS[name]}.partial.md" for name in args.datasets}
    if args.jobs > 1 and len(args.datasets) > 1:
        with ProcessPoolExecutor(max_workers=min(args.jobs, len(args.datasets))) as pool:
            futures = {name: pool.submit(run_dataset, name, root, args.seeds, settings, encoders, progress, i,
                                         not args.no_random_init, partials[name])
                       for i, name in enumerate(args.datasets)}
            for name, future in futures.items():
                results[DATASETS[name]] = future.result()
    else:
        for name in args.datasets:
            results[DATASETS[name]] = run_dataset(name, root, args.seeds, settings, encoders, progress,
                                                  random_init=not args.no_random_init, partial=partials[name])

    table = format_markdown(results, args.seeds)
    processes = min(args.jobs, len(args.datasets))
    setup = (f"NeuNcut defaults; neural baselines: 1 GCN layer (128), {args.epochs} epochs, lr 1e-3, "
             f"{args.n_init} restart(s), lowest own loss kept. k = number of classes (Louvain: its own). "
             f"One torch thread per dataset, {processes} dataset(s) at a time; `seconds` is one run's wall time.")
    ResultsFile(args.out, "quality").finish(f"## Clustering quality\n\n{setup}\n\n{table}\nCommand: `{command}`\n")
    plot(args.out / "quality.png", results)
    for path in partials.values():
        path.unlink(missing_ok=True)
    print(f"written: {args.out / 'quality.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
