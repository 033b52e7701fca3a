"""The grid behind ``MINI_BATCH_DEFAULTS``: mini-batch fits of the MLP encoder on scale.py's
arxiv-sized planted graph, every setting from the same spectral start (computed once), ranked
by the final relaxed-Ncut loss; NMI against the planted communities is printed, never used.

    python benchmarks/minibatch_defaults.py                 # arxiv size, batches of 4096
    python benchmarks/minibatch_defaults.py --nodes 20000   # a quicker look

Writes ``minibatch_defaults.md`` into ``--out``, the command under the table.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
import warnings
from pathlib import Path
from typing import List, Optional
from unittest import mock

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import neuncut_pyg.models.neuncut as neuncut_module  # noqa: E402
from neuncut_pyg.adjacency import to_sparse_adjacency  # noqa: E402
from neuncut_pyg.generators import planted_partition_graph  # noqa: E402
from neuncut_pyg.metrics import nmi, normalized_cut  # noqa: E402
from neuncut_pyg.models import NeuNcut  # noqa: E402
from neuncut_pyg.start import spectral_start  # noqa: E402


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=169_343, help="graph size (default: ogbn-arxiv's)")
    parser.add_argument("--communities", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--epochs", type=int, nargs="+", default=[3, 10])
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-2, 3e-3])
    parser.add_argument("--dropouts", type=float, nargs="+", default=[0.5, 0.0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*(pyg-lib|Sparse CSR|Sparse invariant).*")

    data = planted_partition_graph(args.nodes, args.communities, 13.7, mixing=0.5, num_features=128,
                                   feature_noise=8.0, seed=0)
    adj = to_sparse_adjacency(data.edge_index, num_nodes=data.num_nodes)
    begin = time.perf_counter()
    start, features = spectral_start(data.x, adj, args.communities, seed=0, return_features=True)
    start_s = time.perf_counter() - begin
    start_labels = torch.as_tensor(start.labels)
    rows = [("the start alone", "", "", "", None, nmi(data.y, start_labels),
             normalized_cut(start_labels, data.edge_index), start_s, None)]
    print(f"start: {start_s:.1f} s, NMI {rows[0][5]:.3f}", flush=True)

    def cached_start(*_args, **_kwargs):
        return start, features.clone()

    with mock.patch.object(neuncut_module, "spectral_start", cached_start):
        for epochs, lr, dropout in itertools.product(args.epochs, args.lrs, args.dropouts):
            begin = time.perf_counter()
            model = NeuNcut(128, args.communities, encoder="mlp", dropout=dropout)
            model.fit(data, epochs=epochs, lr=lr, batch_size=args.batch_size, seed=0, progress=False)
            seconds = time.perf_counter() - begin
            labels = model.labels_
            rows.append(("NeuNcut mini-batch (mlp)", epochs, f"{lr:g}", f"{dropout:g}", model.objective_,
                         nmi(data.y, labels), normalized_cut(labels, data.edge_index), seconds,
                         float(np.median(model.loss_history_.seconds))))
            print(f"{epochs} epochs, lr {lr:g}, dropout {dropout:g}: loss {model.objective_:.3f}, "
                  f"{seconds:.1f} s", flush=True)

    lines = [f"### Mini-batch settings: {data.num_nodes:,} nodes, {data.edge_index.size(1) // 2:,} undirected edges, "
             f"{args.communities} communities, mixing 0.5, feature noise 8; batches of {args.batch_size}, one run, "
             "the same start for every row (its time not counted in the rows')", "",
             "| method | epochs | lr | dropout | final loss | NMI | Ncut | seconds | s / epoch |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, epochs, lr, dropout, loss, score, ncut, seconds, per_epoch in rows:
        lines.append(f"| {name} | {epochs} | {lr} | {dropout} | {'' if loss is None else f'{loss:.3f}'} | "
                     f"{score:.3f} | {ncut:.3f} | {seconds:.1f} | {'' if per_epoch is None else f'{per_epoch:.2f}'} |")
    command = " ".join(["python", "benchmarks/minibatch_defaults.py"] + list(argv if argv is not None else sys.argv[1:]))
    text = "\n".join(lines) + f"\n\nWritten by `{command}` ({args.threads} torch thread(s)).\n"
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "minibatch_defaults.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
