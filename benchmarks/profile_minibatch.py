r"""Where a mini-batch fit spends its time: ``NeuNcut(F, k, encoder=...).fit(data, batch_size=B)``
with the library's mini-batch defaults, then ``predict(data, batch_size=B)``, under ``cProfile``,
on a planted-partition graph of ogbn-arxiv's size (``benchmarks/scale.py``'s ``arxiv`` graph).

Two tables per encoder: the stages of the fit (the cumulative seconds of the function that does
each; the stages inside the training loop are parts of its row, and a function called from more
than one stage, such as the encoder's forward pass, counts every call), and the functions with
the most time of their own. The profiler's own cost inflates many small calls: read the shares,
not the seconds, and time the fit without it (``benchmarks/scale.py``).

    python benchmarks/profile_minibatch.py                          # mlp and gcn, arxiv size
    python benchmarks/profile_minibatch.py --encoders mlp --nodes 20000 --name profile_small

Writes ``<out>/<name>.md`` whole at the end, the command under the tables.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(REPO))

from harness import ResultsFile, command_line  # noqa: E402
from neuncut_pyg.generators import planted_partition_graph  # noqa: E402
from neuncut_pyg.metrics import nmi  # noqa: E402
from neuncut_pyg.models import NeuNcut  # noqa: E402
from neuncut_pyg.models.neuncut import MINI_BATCH_DEFAULTS  # noqa: E402

#: ``(filename, line, function)`` -> ``(primitive calls, calls, own seconds, cumulative seconds, callers)``
Entry = Tuple[str, int, str]

#: The stages of a fit: (label, indent, the functions that do it as (file name ending, function
#: name)). A stage's seconds are the cumulative seconds of its functions, summed.
STAGES: List[Tuple[str, int, Tuple[Tuple[str, str], ...]]] = [
    ("`fit`", 0, (("models/neuncut.py", "fit"),)),
    ("the start (smoothing, spectral embedding, k-means, merge-split)", 1, (("start/smoothed.py", "spectral_start"),)),
    ("fitting the network to the start (cross-entropy)", 1, (("fitting/loops.py", "train_to_partition"),)),
    ("the neighbours' memberships, refreshed before each run", 1, (("neuncut_pyg/sampling.py", "reset"),)),
    ("the Ncut steps (`train_mini_batch`)", 1, (("fitting/loops.py", "train_mini_batch"),)),
    ("batches: sampling and `Data` plumbing", 2,
     (("fitting/strategies.py", "__iter__"), ("torch/utils/data/dataloader.py", "__next__"))),
    ("encoder forward on the seeds (every call, the start's fit too)", 2, (("models/fit_support.py", "forward"),)),
    ("the batch's statistics (membership cache)", 2, (("neuncut_pyg/sampling.py", "statistics"),)),
    ("the ratio (`ncut_loss_from_statistics`)", 2, (("neuncut_pyg/loss.py", "ncut_loss_from_statistics"),)),
    ("backward", 2, (("torch/_tensor.py", "backward"),)),
    ("Adam step", 2, (("torch/optim/adam.py", "step"),)),
    ("`predict`", 0, (("models/neuncut.py", "predict"),)),
]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoders", nargs="+", default=["mlp", "gcn"], choices=["mlp", "gcn", "sage"])
    parser.add_argument("--nodes", type=int, default=169_343, help="(default: ogbn-arxiv's 169,343)")
    parser.add_argument("--communities", type=int, default=40)
    parser.add_argument("--avg-degree", type=float, default=13.7)
    parser.add_argument("--features", type=int, default=128)
    parser.add_argument("--mixing", type=float, default=0.5)
    parser.add_argument("--feature-noise", type=float, default=8.0)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=12, help="functions listed by their own time")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--name", default="profile_minibatch")
    args = parser.parse_args(argv)
    if args.nodes < 2 * args.communities or args.batch_size < 1 or args.top < 1:
        parser.error("need --nodes >= 2 * --communities, --batch-size >= 1 and --top >= 1")
    return args


def stage_seconds(stats: Dict[Entry, tuple]) -> List[Tuple[str, int, float]]:
    rows = []
    for label, indent, functions in STAGES:
        seconds = sum(entry[3] for (file, _, name), entry in stats.items()
                      if any(file.replace("\\", "/").endswith(end) and name == want for end, want in functions))
        rows.append((label, indent, seconds))
    return rows


def own_time(stats: Dict[Entry, tuple], top: int) -> List[Tuple[str, int, float]]:
    ranked = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    rows = []
    for (file, line, name), entry in ranked:
        where = "built-in" if file == "~" else "/".join(Path(file).parts[-2:]) + f":{line}"
        rows.append((f"`{name}` ({where})", entry[1], entry[2]))
    return rows


def profile_fit(data, encoder: str, args: argparse.Namespace) -> Tuple[str, Dict[str, float]]:
    model = NeuNcut(data.num_features, args.communities, encoder=encoder)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    model.fit(data, batch_size=args.batch_size, seed=args.seed, progress=False)
    labels = model.predict(data, batch_size=args.batch_size)
    profiler.disable()
    seconds = time.perf_counter() - start
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    stages = stage_seconds(stats)
    total = stages[0][2] + stages[-1][2]
    lines = [f"### `encoder=\"{encoder}\"`", "",
             f"Profiled wall time {seconds:.1f} s (fit + predict); NMI {nmi(data.y, labels):.3f}.", "",
             "| stage | seconds | share of fit + predict |", "|---|---:|---:|"]
    for label, indent, value in stages:
        lines.append(f"| {'&nbsp;' * 4 * indent}{label} | {value:.1f} | {100 * value / total:.0f}% |")
    lines += ["", f"The {args.top} functions with the most time of their own:", "",
              "| function | calls | own seconds |", "|---|---:|---:|"]
    lines += [f"| {label} | {calls:,} | {value:.1f} |" for label, calls, value in own_time(stats, args.top)]
    return "\n".join(lines), {"seconds": seconds}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    data = planted_partition_graph(args.nodes, args.communities, args.avg_degree, mixing=args.mixing,
                                   num_features=args.features, feature_noise=args.feature_noise, seed=args.seed)
    defaults = ", ".join(f"{key}={value}" for key, value in MINI_BATCH_DEFAULTS.items())
    header = [
        "# Where a mini-batch fit spends its time", "",
        f"Planted partition: {data.num_nodes:,} nodes, {data.edge_index.size(1) // 2:,} undirected edges, "
        f"{args.communities} communities, {args.features} features (mixing {args.mixing}, feature noise "
        f"{args.feature_noise}). `NeuNcut(F, k, encoder=...).fit(data, batch_size={args.batch_size})` with the "
        f"mini-batch defaults ({defaults}), then `predict(data, batch_size={args.batch_size})`, under `cProfile`, "
        f"{torch.get_num_threads()} torch thread(s). Script: `benchmarks/profile_minibatch.py`.", "",
    ]
    out = ResultsFile(args.out, args.name)
    sections = []
    for encoder in args.encoders:
        print(f"profiling encoder={encoder} ...", flush=True)
        text, _ = profile_fit(data, encoder, args)
        sections.append(text)
        out.update("\n".join(header + ["\n\n".join(sections)]))
    body = header + ["\n\n".join(sections), "", f"Command: `{command_line('profile_minibatch', argv)}`", ""]
    print(f"wrote {out.finish(chr(10).join(body))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
