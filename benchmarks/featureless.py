r"""Graphs without features (issue 16): NeuNcut before and after its featureless path, next to
spectral clustering and Louvain, and what ``num_clusters="auto"`` picks.

Graphs: featureless degree-corrected planted partitions
(:func:`~neuncut_pyg.generators.planted_partition_graph`, ``num_features=0``): 2,000 nodes
(``--nodes``), 28 communities of Zipf sizes (``size_exponent=1``), power-law degrees (exponent 2.5), average
degree 15, mixing 0.3 / 0.5 / 0.6, one graph per seed. Methods, every one seeded with the
graph's seed:

- **NeuNcut before**: what main did for a featureless graph (as the issue measured it): the
  command line's node-id features (:func:`~neuncut_pyg.models.featureless.node_id_features`, 32 dimensions, 4
  random-walk steps), then ``NeuNcut(32, 28)`` with its defaults (smoothed-feature start);
- **NeuNcut after**: ``NeuNcut(-1, 28)`` with its defaults on a ``Data`` without ``x`` (its own
  whitened node-id input, the graph's spectral start, never worse than that start);
- **graph start**: that start alone (:func:`~neuncut_pyg.start.graph.graph_spectral_start`);
- **spectral clustering**: scikit-learn's ``SpectralClustering(28, affinity="precomputed")`` on
  the adjacency, with its default eigen-solver (ARPACK) or the one ``--eigen-solver`` names. On
  20,000 nodes ARPACK's shift-invert mode factorizes the Laplacian, whose LU factors fill in on
  these graphs: it had not finished one graph in 35 minutes, where LOBPCG (``--eigen-solver
  lobpcg``, the same embedding) takes about 10 seconds;
- **Louvain**: ``networkx.community.louvain_communities`` (picks its own number of clusters).

Scores: NMI against the planted blocks, and the discrete Ncut of the partition (28-way: a
cluster left empty counts 1; Louvain's with its own clusters, so not comparable), seconds of one
fit. Cells: mean ± std over seeds. The ``num_clusters="auto"`` table lists the Bethe-Hessian
choice (:func:`~neuncut_pyg.start.graph.choose_num_clusters`, bounds 2..100) on the same graphs,
on planted graphs with 5 and 10 communities, on a graph with no communities, and on Cora and
CiteSeer (the graph only) where their raw files are found under ``--root``.

Usage::

    python benchmarks/featureless.py                    # 2 seeds, writes benchmarks/results/featureless.md
    python benchmarks/featureless.py --seeds 3 --jobs 2
    python benchmarks/featureless.py --nodes 20000 --seeds 3 --jobs 2 --no-before --eigen-solver lobpcg
                                                        # featureless_20000.md
    python benchmarks/featureless.py --quick            # smoke test: 1 seed, mixing 0.3, 20 epochs
"""
from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(REPO))

from torch_geometric.data import Data  # noqa: E402

from neuncut_pyg.adjacency import scipy_affinity  # noqa: E402
from neuncut_pyg.models.featureless import node_id_features  # noqa: E402
from neuncut_pyg.generators import planted_partition_graph  # noqa: E402
from neuncut_pyg.metrics import nmi, normalized_cut  # noqa: E402
from neuncut_pyg.models import NeuNcut  # noqa: E402
from neuncut_pyg.start.graph import choose_num_clusters, graph_spectral_start  # noqa: E402
from harness import ResultsFile, command_line  # noqa: E402

NUM_NODES, NUM_CLUSTERS, AVG_DEGREE = 2000, 28, 15.0
MIXINGS = (0.3, 0.5, 0.6)
METHODS = ("NeuNcut before (node-id features, NeuNcut(32, 28))", "NeuNcut after (NeuNcut(-1, 28), no x)",
           "graph start alone", "spectral clustering (scikit-learn)", "Louvain (own k)")
EIGEN_SOLVERS = ("arpack", "lobpcg")


def planted(mixing: float, seed: int, k: int = NUM_CLUSTERS, n: int = NUM_NODES) -> Data:
    return planted_partition_graph(n, k, AVG_DEGREE, mixing=mixing, num_features=0, seed=seed)


def louvain(edge_index: torch.Tensor, n: int, seed: int) -> np.ndarray:
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(n))
    src, dst = edge_index.numpy()
    g.add_edges_from(zip(src[src < dst].tolist(), dst[src < dst].tolist()))
    labels = np.empty(n, dtype=np.int64)
    for c, members in enumerate(nx.community.louvain_communities(g, seed=seed)):
        labels[list(members)] = c
    return labels


def one_graph(task) -> List[Dict]:
    """Every method on the graph of one (mixing, seed, epochs, nodes, with the "before" row):
    rows ``{mixing, seed, method, nmi, ncut, s, clusters}``."""
    mixing, seed, epochs, n, with_before, eigen_solver = task
    from sklearn.cluster import SpectralClustering

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    g = planted(mixing, seed, n=n)
    ei, k = g.edge_index, NUM_CLUSTERS
    fit = {} if epochs is None else {"epochs": epochs}

    def before():
        x = node_id_features([str(i) for i in range(n)], ei, dim=32, steps=4, seed=0)
        return NeuNcut(32, k).fit(Data(x=x, edge_index=ei, num_nodes=n), seed=seed, progress=False, **fit).labels_

    def after():
        return NeuNcut(-1, k).fit(Data(edge_index=ei, num_nodes=n), seed=seed, progress=False, **fit).labels_

    runs = {
        METHODS[0]: before,
        METHODS[1]: after,
        METHODS[2]: lambda: graph_spectral_start(ei, n, k, seed=seed).labels,
        METHODS[3]: lambda: SpectralClustering(k, affinity="precomputed", random_state=seed,
                                               eigen_solver=eigen_solver).fit_predict(scipy_affinity(ei, num_nodes=n)),
        METHODS[4]: lambda: louvain(ei, n, seed),
    }
    if not with_before:
        del runs[METHODS[0]]
    rows = []
    for method, run in runs.items():
        start = time.perf_counter()
        labels = torch.as_tensor(np.asarray(run()))
        seconds = time.perf_counter() - start
        own_k = method.startswith("Louvain")
        rows.append({"mixing": mixing, "seed": seed, "method": method, "nmi": nmi(g.y, labels),
                     "ncut": normalized_cut(labels, ei, num_clusters=None if own_k else k), "s": seconds,
                     "clusters": int(torch.unique(labels).numel())})
    return rows


def citation_graphs(root: Path) -> List[Tuple[str, Data]]:
    """Cora's and CiteSeer's graphs without their words (labels kept, to score), where their raw
    files are under ``root`` (read only: PyG processes them in a temporary copy)."""
    from neuncut_pyg.data import load_planetoid

    found, scratch = [], Path(tempfile.mkdtemp(prefix="featureless-"))  # PyG writes processed/ beside raw/
    for name in ("Cora", "CiteSeer"):
        if (root / "Planetoid" / name / "raw").is_dir():
            shutil.copytree(root / "Planetoid" / name / "raw", scratch / "Planetoid" / name / "raw")
            d = load_planetoid(name, scratch)
            found.append((name, Data(edge_index=d.edge_index, num_nodes=d.num_nodes, y=d.y)))
    shutil.rmtree(scratch)
    return found


def auto_k_rows(seeds: Sequence[int], root: Path, n: int = NUM_NODES) -> List[Dict]:
    """What ``num_clusters="auto"`` picks: ``{graph, seed, true k, k, count, reason, s}``."""
    graphs = [(f"planted N={n:,}, k=28, mixing {m}", 28, lambda s, m=m: planted(m, s, n=n)) for m in MIXINGS]
    graphs += [(f"planted N={n:,}, k={k}, mixing 0.3", k, lambda s, k=k: planted(0.3, s, k=k, n=n)) for k in (5, 10)]
    graphs.append((f"no communities: 2 halves, mixing 0.5, N={n:,}", "none",
                   lambda s: planted_partition_graph(n, 2, AVG_DEGREE, mixing=0.5, size_exponent=0.0,
                                                     num_features=0, seed=s)))
    rows = []
    for name, true_k, make in graphs:
        for seed in seeds:
            g = make(seed)
            start = time.perf_counter()
            choice = choose_num_clusters(g.edge_index, g.num_nodes, seed=seed)
            rows.append({"graph": name, "seed": seed, "true": true_k, "k": choice.k, "count": choice.count,
                         "reason": choice.reason, "s": time.perf_counter() - start})
    for name, d in citation_graphs(root):
        start = time.perf_counter()
        choice = choose_num_clusters(d.edge_index, d.num_nodes)
        rows.append({"graph": f"{name} (graph only; classes)", "seed": 0, "true": int(d.y.max()) + 1,
                     "k": choice.k, "count": choice.count, "reason": choice.reason,
                     "s": time.perf_counter() - start})
    return rows


def cell(values: Sequence[float], fmt: str) -> str:
    values = list(values)
    return format(values[0], fmt) if len(values) == 1 else f"{format(np.mean(values), fmt)} ± {format(np.std(values), fmt)}"


def markdown(rows: List[Dict], auto: List[Dict], command: str, n: int = NUM_NODES,
             eigen_solver: str = "arpack") -> str:
    seeds = sorted({r["seed"] for r in rows})
    lines = ["# Graphs without features", "",
             f"Featureless planted partitions, N={n:,}, k={NUM_CLUSTERS} (Zipf sizes, power-law degrees, "
             f"average degree {AVG_DEGREE:g}); seeds {seeds}; mean ± std over seeds. Ncut: discrete, "
             f"{NUM_CLUSTERS}-way (an empty cluster counts 1); Louvain's over its own clusters. "
             f"Spectral clustering's eigen-solver: {eigen_solver}. "
             "Script and methods: `benchmarks/featureless.py`.", ""]
    for mixing in sorted({r["mixing"] for r in rows}):
        lines += [f"## Mixing {mixing}", "", "| method | NMI | Ncut | clusters | seconds |", "|---|---|---|---|---|"]
        for method in METHODS:
            rs = [r for r in rows if r["mixing"] == mixing and r["method"] == method]
            if rs:
                lines.append(f"| {method} | {cell([r['nmi'] for r in rs], '.3f')} | {cell([r['ncut'] for r in rs], '.2f')}"
                             f" | {cell([r['clusters'] for r in rs], '.0f')} | {cell([r['s'] for r in rs], '.1f')} |")
        lines.append("")
    lines += ['## `num_clusters="auto"` (Bethe-Hessian count, bounds 2..100)', "",
              "| graph | planted k | chosen k per seed | count above the threshold | reason | seconds |",
              "|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["graph"] for r in auto):
        rs = [r for r in auto if r["graph"] == name]
        lines.append(f"| {name} | {rs[0]['true']} | {', '.join(str(r['k']) for r in rs)} | "
                     f"{', '.join(str(r['count']) for r in rs)} | {', '.join(sorted({r['reason'] for r in rs}))} | "
                     f"{cell([r['s'] for r in rs], '.1f')} |")
    lines += ["", "Command:", "", "```", command, "```", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2, help="graphs (and seeds) per mixing (default: 2)")
    parser.add_argument("--jobs", type=int, default=1, help="processes, one torch thread each (default: 1)")
    parser.add_argument("--root", default=str(REPO.parent / "shared" / "datasets"),
                        help="data root holding Planetoid/{Cora,CiteSeer}/raw for the auto-k table (read only: "
                             "they are processed in a temporary copy)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="output directory")
    parser.add_argument("--nodes", type=int, default=NUM_NODES, help=f"nodes per graph (default: {NUM_NODES})")
    parser.add_argument("--no-before", action="store_true",
                        help="leave out the 'NeuNcut before' row (the old node-id path; costly on large graphs)")
    parser.add_argument("--eigen-solver", choices=EIGEN_SOLVERS, default="arpack",
                        help="scikit-learn's eigen-solver for spectral clustering (default: arpack, its own default)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 seed, mixing 0.3, 20 epochs")
    args = parser.parse_args(argv)
    if args.nodes < 10 * NUM_CLUSTERS:
        parser.error(f"--nodes must be at least {10 * NUM_CLUSTERS} ({NUM_CLUSTERS} communities)")
    if args.seeds < 1 or args.jobs < 1:
        parser.error("--seeds and --jobs must be >= 1")
    seeds = [0] if args.quick else list(range(args.seeds))
    tasks = [(m, s, 20 if args.quick else None, args.nodes, not args.no_before, args.eigen_solver)
             for m in ((0.3,) if args.quick else MIXINGS) for s in seeds]
    torch.set_num_threads(1)
    name = "featureless" + ("_quick" if args.quick else "") + ("" if args.nodes == NUM_NODES else f"_{args.nodes}")
    results, command, rows = ResultsFile(Path(args.out), name), command_line("featureless", argv), []
    with ProcessPoolExecutor(args.jobs) if args.jobs > 1 else contextlib.nullcontext() as pool:
        for graph_rows in (pool.map(one_graph, tasks) if pool else map(one_graph, tasks)):
            rows += graph_rows
            results.update(markdown(rows, [], command, args.nodes, args.eigen_solver))  # a run cut short keeps them
    auto = auto_k_rows(seeds, Path(args.root), n=args.nodes)
    results.finish(markdown(rows, auto, command, args.nodes, args.eigen_solver))
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
