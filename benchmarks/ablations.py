r"""Ablations of NeuNcut's start, on Cora and CiteSeer: the experiments behind three live defaults.

Every variant is ``NeuNcut(F, k).fit(data, seed=s)`` with the library's defaults (one GCN layer
of 128, SELU, dropout 0.5, ``gamma="auto"``, 300 epochs, Adam 1e-3, ``n_init=3``,
``init="auto"``, which is the spectral start for these full-batch fits) except for one change:

- **(a) the start**: ``init="random"`` (freshly initialized parameters, the paper's start)
  against the default spectral start (``docs/defaults.md``, "init").
- **(b) the core schedule**: by default run :math:`r` of the ``n_init`` runs is fitted only to the
  share :math:`2^{-r}` of each start cluster that lies deepest inside it (1, 1/2, 1/4); the
  variant fits every run to the whole start. The lever is the module constant
  ``neuncut_pyg.models.neuncut.CORE_SHRINK`` (the ``shrink`` that ``fit`` passes to
  :func:`neuncut_pyg.start.core_fractions`), patched to ``1.0`` with
  ``unittest.mock.patch.object`` for the duration of the fit. Each run's final loss
  (``init_objectives_``, against ``init_core_fractions_``) is reported, since the lowest one
  chooses the kept run.
- **(c) k-means restarts of the start**: ``neuncut_pyg.start.smoothed.START_KMEANS_RESTARTS``
  (3 by default) patched to 1 and to 10; it is the ``n_init`` that
  :func:`neuncut_pyg.start.spectral_start` gives :func:`neuncut_pyg.start.smoothed_feature_clustering`
  at every smoothing depth it tries.

Each variant runs once per dataset and seed; the default row is shared by the three
comparisons. Labels are read only to score: NMI and ACC (Hungarian) against the classes, and the
discrete normalized cut (:func:`neuncut_pyg.metrics.normalized_cut`) of the predicted partition on
the graph. ``final loss`` is the kept run's relaxed Ncut (``objective_``, the label-free criterion
that picks the run); ``run losses`` gives every run's, in order; ``kept`` counts which run was kept
over the seeds; ``depth`` is the smoothing depth the start chose (``init_clustering_.steps``);
``seconds`` is the wall time of one fit (start included) with one torch thread. Cells are
mean ± std over seeds (population std).

Usage::

    python benchmarks/ablations.py                          # Cora + CiteSeer, 5 seeds (hours on a busy 2-core machine)
    python benchmarks/ablations.py --datasets cora --seeds 2
    python benchmarks/ablations.py --quick                  # smoke test: 1 seed, 10 epochs, tiny graph if no Planetoid
    python benchmarks/ablations.py --root /path/to/data --out benchmarks/results

Writes ``<out>/ablations.md`` whole at the end (one table per dataset, the command that made it
under each, then the per-seed runs), or ``<out>/ablations_<dataset>[_<dataset>].md`` when
``--datasets`` picks some (so that the datasets can run in separate processes without writing
over each other's file); ``<name>.partial.md`` holds the runs so far while it works and is
removed at the end.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(REPO))

from neuncut_pyg.data import DATA_ROOT_ENV, DatasetNotFoundError, load_planetoid  # noqa: E402
from neuncut_pyg.generators import planted_partition_graph  # noqa: E402
from neuncut_pyg.metrics import clustering_accuracy, nmi, normalized_cut  # noqa: E402
from neuncut_pyg.models import NeuNcut  # noqa: E402
from harness import ResultsFile, command_line, patched, settle_counts  # noqa: E402

warnings.filterwarnings("ignore", message=".*(pyg-lib|Sparse CSR|Sparse invariant).*")

#: Planetoid datasets by option name; ``planted`` is the small synthetic graph of ``--quick``.
DATASETS = {"cora": "Cora", "citeseer": "CiteSeer", "planted": "planted"}
#: The synthetic graph used when the Planetoid files are absent in ``--quick`` mode (or asked
#: for with ``--datasets planted``): 300 nodes, 4 communities.
PLANTED = dict(num_nodes=300, num_communities=4, avg_degree=8.0, mixing=0.3, num_features=16, feature_noise=2.0,
               seed=0)


class Variant(NamedTuple):
    """One ablation: a name, the ablation it belongs to, extra ``fit`` arguments and patches."""

    name: str
    ablation: str
    fit_kwargs: Dict[str, object]
    patches: Dict[str, object]  # "module:attribute" -> value


DEFAULT = "defaults (spectral start, cores 1, 1/2, 1/4; 3 k-means restarts)"
VARIANTS: List[Variant] = [
    Variant(DEFAULT, "reference", {}, {}),
    Variant('init="random"', "(a) start", {"init": "random"}, {}),
    Variant("every run fitted to the whole start (CORE_SHRINK = 1)", "(b) core schedule", {},
            {"neuncut_pyg.models.neuncut:CORE_SHRINK": 1.0}),
    Variant("1 k-means restart per depth", "(c) k-means restarts", {},
            {"neuncut_pyg.start.smoothed:START_KMEANS_RESTARTS": 1}),
    Variant("10 k-means restarts per depth", "(c) k-means restarts", {},
            {"neuncut_pyg.start.smoothed:START_KMEANS_RESTARTS": 10}),
]
def run_variant(variant: Variant, data, k: int, seed: int, settings: Dict[str, int]) -> Dict[str, object]:
    """One fit of ``variant`` and its scores (labels read only here, to score)."""
    with patched(variant.patches):
        start = time.perf_counter()
        model = NeuNcut(data.num_features, k)
        model.fit(data, epochs=settings["epochs"], n_init=settings["n_init"], seed=seed, progress=False,
                  **variant.fit_kwargs)
        seconds = time.perf_counter() - start
    labels = model.labels_
    return {
        "seed": seed,
        "NMI": nmi(data.y, labels),
        "ACC": clustering_accuracy(data.y, labels),
        "Ncut": normalized_cut(labels, data.edge_index),
        "loss": float(model.objective_),
        "run_losses": [float(v) for v in model.init_objectives_],
        "fractions": None if model.init_core_fractions_ is None else list(model.init_core_fractions_),
        # fit keeps the last run whose loss equals the minimum so far
        "kept": max(i for i, v in enumerate(model.init_objectives_) if v == min(model.init_objectives_)) + 1,
        "depth": None if model.init_clustering_ is None else int(model.init_clustering_.steps),
        "seconds": seconds,
    }


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------
def _mean_std(values: Sequence[float], digits: int = 3) -> str:
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def _fraction(f: float) -> str:
    return "1" if f == 1.0 else f"1/{round(1 / f)}"


def summary_row(variant: Variant, runs: List[Dict[str, object]]) -> List[str]:
    """The table cells of one variant over its seeds."""
    n_runs = len(runs[0]["run_losses"])
    per_run = [[r["run_losses"][i] for r in runs] for i in range(n_runs)]
    run_losses = " / ".join(f"{np.mean(v):.3f}" for v in per_run)
    fractions = runs[0]["fractions"]
    if fractions is not None:
        run_losses += " (fitted to " + ", ".join(_fraction(f) for f in fractions) + ")"
    kept = ", ".join(f"run {run}: {count}x" for run, count in sorted(Counter(r["kept"] for r in runs).items()))
    depths = Counter(r["depth"] for r in runs if r["depth"] is not None)
    depth = ", ".join(f"{d}" + (f" ({c}x)" if len(depths) > 1 else "") for d, c in sorted(depths.items())) or "–"
    return [variant.ablation, variant.name, _mean_std([r["NMI"] for r in runs]), _mean_std([r["ACC"] for r in runs]),
            _mean_std([r["Ncut"] for r in runs]), _mean_std([r["loss"] for r in runs]), run_losses, kept, depth,
            _mean_std([r["seconds"] for r in runs], 1)]


HEADER = ["ablation", "variant", "NMI", "ACC", "Ncut", "final loss", "run losses (mean)", "kept", "depth", "seconds"]


def format_table(dataset: str, results: Dict[str, List[Dict[str, object]]], command: str) -> str:
    """One dataset's table (variants as rows, in ``VARIANTS`` order) with the command under it."""
    seeds = len(next(iter(results.values())))
    lines = [f"### {dataset} ({seeds} seed{'s' if seeds != 1 else ''}, mean ± std)", "",
             "| " + " | ".join(HEADER) + " |", "|---|---" + "|---:" * 4 + "|---|---|---:|---:|"]
    for variant in VARIANTS:
        if variant.name in results:
            lines.append("| " + " | ".join(summary_row(variant, results[variant.name])) + " |")
    lines += ["", f"Command: `{command}`", ""]
    return "\n".join(lines)


def format_runs(dataset: str, results: Dict[str, List[Dict[str, object]]]) -> str:
    """Every fit of one dataset: seed, variant, scores and each run's final loss."""
    lines = [f"#### {dataset}: every fit", "", "| variant | seed | NMI | ACC | Ncut | run losses | kept | depth | seconds |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|"]
    for variant in VARIANTS:
        for r in results.get(variant.name, []):
            losses = " / ".join(f"{v:.4f}" for v in r["run_losses"])
            lines.append(f"| {variant.name} | {r['seed']} | {r['NMI']:.3f} | {r['ACC']:.3f} | {r['Ncut']:.3f} | "
                         f"{losses} | {r['kept']} | {r['depth'] if r['depth'] is not None else '–'} | "
                         f"{r['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def format_markdown(all_results: Dict[str, Dict[str, List[Dict[str, object]]]], command: str,
                    settings: Dict[str, int]) -> str:
    """The whole results file."""
    parts = ["## Ablations of the start (`benchmarks/ablations.py`)", "",
             f"NeuNcut defaults ({settings['epochs']} epochs, n_init {settings['n_init']}, one torch thread) "
             "with one change per row; labels only score. See the script's docstring for each lever and "
             "`docs/defaults.md` for what the rows decide.", ""]
    for dataset, results in all_results.items():
        parts.append(format_table(dataset, results, command))
    parts += ["### Every fit", ""]
    for dataset, results in all_results.items():
        parts.append(format_runs(dataset, results))
    return "\n".join(parts).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------
def load(name: str, root: Path):
    """``(display name, data)``; ``planted`` is generated, the others are read from ``root``."""
    if name == "planted":
        data = planted_partition_graph(**PLANTED)
        return f"planted ({PLANTED['num_nodes']} nodes, {PLANTED['num_communities']} communities)", data
    return DATASETS[name], load_planetoid(DATASETS[name], root, download=False)


def run_dataset(data, settings: Dict[str, int], seeds: int, variants: Sequence[Variant] = VARIANTS,
                on_result: Optional[Callable[[Dict[str, List[Dict[str, object]]]], None]] = None,
                log: Callable[[str], None] = print) -> Dict[str, List[Dict[str, object]]]:
    """Every variant on one graph over seeds ``0..seeds-1``: ``{variant name: [run, ...]}``."""
    k = int(data.y.max()) + 1
    results: Dict[str, List[Dict[str, object]]] = {}
    for variant in variants:
        results[variant.name] = []
        for seed in range(seeds):
            r = run_variant(variant, data, k, seed, settings)
            results[variant.name].append(r)
            log(f"  {variant.name}, seed {seed}: NMI {r['NMI']:.3f}, loss {r['loss']:.4f} "
                f"(runs {', '.join(f'{v:.4f}' for v in r['run_losses'])}), {r['seconds']:.0f} s")
            if on_result is not None:
                on_result(results)
    return results


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=None, choices=list(DATASETS),
                        help="datasets (default: cora citeseer; with --quick, planted where Cora's files are absent)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..seeds-1 (default: 5, 1 with --quick)")
    parser.add_argument("--epochs", type=int, default=None, help="relaxed-Ncut epochs (default: 300, 10 with --quick)")
    parser.add_argument("--n-init", type=int, default=3, help="runs per fit (default: 3, NeuNcut's)")
    parser.add_argument("--root", type=Path, default=None,
                        help=f"data root holding Planetoid/<Name>/raw (default: ${DATA_ROOT_ENV}, else datasets/)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="output directory")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 seed, 10 epochs")
    args = parser.parse_args(argv)
    settle_counts(parser, args, {"seeds": (1, 5), "epochs": (10, 300)}, positive=("n_init", "threads"))
    return args


def main(argv: Optional[List[str]] = None) -> int:
    command = command_line("ablations", argv)
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    root = args.root or Path(os.environ.get(DATA_ROOT_ENV) or REPO / "datasets")
    names = args.datasets
    if names is None:
        names = ["cora", "citeseer"]
        if args.quick and not (root / "Planetoid" / "Cora" / "raw").is_dir():
            names = ["planted"]
    graphs = {}
    try:
        for name in names:  # fail early on missing data
            display, data = load(name, root)
            graphs[display] = data
    except DatasetNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    settings = {"epochs": args.epochs, "n_init": args.n_init}
    results_file = ResultsFile(args.out, "ablations" if args.datasets is None else "_".join(["ablations", *names]))
    all_results: Dict[str, Dict[str, List[Dict[str, object]]]] = {}
    for display, data in graphs.items():
        print(f"{display}: {data.num_nodes} nodes, k = {int(data.y.max()) + 1}", flush=True)

        def save(results, display=display):
            results_file.update(format_markdown({**all_results, display: results}, command, settings))

        all_results[display] = run_dataset(data, settings, args.seeds, on_result=save,
                                           log=lambda line: print(line, flush=True))
    results_file.finish(format_markdown(all_results, command, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
