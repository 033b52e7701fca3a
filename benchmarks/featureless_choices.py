r"""The two settings of NeuNcut's featureless path, each next to the alternatives: the diagonal
regularization :math:`\tau` of the graph start's embedding, and the model's own input
(random vectors per cluster, directions kept, shrinkage of the whitening).

- **The start's regularization.** :func:`~neuncut_pyg.start.graph.graph_spectral_start` on the
  embedding of each :math:`\tau` (Bethe's :math:`r^2 - 1`, the mean degree, ``0``), row
  scaling chosen as the library does (modularity): NMI and discrete Ncut on featureless planted
  partitions (``benchmarks/featureless.py``'s graphs, 2,000 nodes on 3 seeds and 20,000 nodes on
  one; ``--quick``: 600 nodes) and on Cora's and CiteSeer's graphs without words (when their
  raw files are under ``--root``).
- **The input.** ``NeuNcut(-1, k)`` with its defaults but for the three input constants (patched
  for the fit): on a 240-node, 3-community graph grown by three nodes (two sets of node ids x 3
  seeds, the short fit of ``tests/models/test_featureless.py``), the share of old nodes whose
  prediction is unchanged and how many new nodes join the community they are tied to; on
  Cora's graph (seed 0), NMI and Ncut of ``labels_``, which partition was kept, and how often
  ``predict`` equals ``labels_``; on the 2,000-node planted graphs at mixing 0.5 and 0.6 (seed 0),
  NMI and Ncut.

Usage::

    python benchmarks/featureless_choices.py            # writes benchmarks/results/featureless_choices.md
    python benchmarks/featureless_choices.py --quick    # smoke test: small graphs, short fits
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(REPO))

from torch_geometric.data import Data  # noqa: E402

from neuncut_pyg.generators import planted_partition_graph  # noqa: E402
from neuncut_pyg.metrics import nmi, normalized_cut  # noqa: E402
from neuncut_pyg.models import NeuNcut  # noqa: E402
from neuncut_pyg.start.graph import graph_spectral_embedding, graph_spectral_start  # noqa: E402
from featureless import NUM_CLUSTERS, citation_graphs, planted  # noqa: E402
from harness import ResultsFile, command_line, patched  # noqa: E402

REGULARIZATIONS = ("bethe", "mean_degree", 0.0)
#: (random vectors per cluster, directions kept per cluster, shrinkage); the first is the input
#: before this comparison, the library's default is marked in the table.
INPUTS = ((4, 2, 0.0), (8, 8, 0.0), (8, 8, 1e-2), (8, 8, 3e-2), (8, 8, 1e-1))
_LEVERS = ("FEATURELESS_DIM_PER_CLUSTER", "FEATURELESS_COMPONENTS_PER_CLUSTER", "FEATURELESS_SHRINKAGE")
_GROWN_FIT = dict(epochs=80, lr=1e-2, n_init=1, progress=False)


def start_rows(sizes: List[Tuple[int, int]], citation: List[Tuple[str, Data]]) -> List[Dict]:
    """The graph start on each regularization: ``{graph, regularization, nmi, ncut, s}`` per graph."""
    graphs = [(f"planted N={n:,}, mixing {m}", planted(m, s, n=n)) for n, seeds in sizes
              for m in (0.3, 0.5, 0.6) for s in range(seeds)]
    rows = []
    for name, g in graphs + citation:
        k = int(g.y.max()) + 1
        for reg in REGULARIZATIONS:
            start = time.perf_counter()
            emb = graph_spectral_embedding(g.edge_index, g.num_nodes, k, regularization=reg, seed=0)
            labels = torch.as_tensor(graph_spectral_start(g.edge_index, g.num_nodes, k, embedding=emb, seed=0).labels)
            rows.append({"graph": name, "regularization": str(reg), "nmi": nmi(g.y, labels),
                         "ncut": normalized_cut(labels, g.edge_index, num_clusters=k), "s": time.perf_counter() - start})
    return rows


def grown_graph(num_nodes: int = 240) -> Tuple[Data, Data, List[List[int]]]:
    """The test's graph: 3 equal communities, and the graph grown by 3 nodes tied to 3 members each."""
    data = planted_partition_graph(num_nodes, 3, 10.0, mixing=0.15, seed=1, size_exponent=0.0, num_features=0)
    members = [[i for i in range(num_nodes) if data.y[i] == c][:3] for c in range(3)]
    new = torch.tensor([(num_nodes + c, m) for c in range(3) for m in members[c]]).t()
    grown = Data(edge_index=torch.cat([data.edge_index, new, new.flip(0)], 1), num_nodes=num_nodes + 3)
    return data, grown, members


def input_row(setting: Tuple[int, int, float], citation: List[Tuple[str, Data]], nodes: int,
              fit: Dict) -> Dict:
    """One input setting on the grown graph, Cora's graph and the planted graphs."""
    row: Dict[str, object] = {"setting": setting}
    with patched({f"neuncut_pyg.models.neuncut:{lever}": value for lever, value in zip(_LEVERS, setting)}):
        data, grown, members = grown_graph()
        n = data.num_nodes
        same, placed, cases = [], 0, 0
        for ids in (torch.arange(n + 3), torch.arange(n + 3) * 7919 + 12345):  # two sets of node ids
            for seed in range(3):
                model = NeuNcut(-1, 3, hidden_channels=32).fit(
                    Data(edge_index=data.edge_index, num_nodes=n, node_id=ids[:n]), seed=seed, **_GROWN_FIT)
                before = model.predict(Data(edge_index=data.edge_index, num_nodes=n, node_id=ids[:n]))
                after = model.predict(Data(edge_index=grown.edge_index, num_nodes=n + 3, node_id=ids))
                same.append(float((after[:n] == before).float().mean()))
                placed += sum(int(after[n + c] == torch.mode(before[members[c]]).values) for c in range(3))
                cases += 3
        row["grown"] = (float(np.mean(same)), float(np.min(same)), placed, cases)
        for name, g in citation[:1]:
            k = int(g.y.max()) + 1
            model = NeuNcut(-1, k).fit(Data(edge_index=g.edge_index, num_nodes=g.num_nodes), seed=0, **fit)
            predicted = model.predict(Data(edge_index=g.edge_index, num_nodes=g.num_nodes))
            row[name] = (nmi(g.y, model.labels_), float(model.ncut_), model.kept_,
                         float((predicted == model.labels_).float().mean()))
        for mixing in (0.5, 0.6):
            g = planted(mixing, 0, n=nodes)
            model = NeuNcut(-1, NUM_CLUSTERS).fit(Data(edge_index=g.edge_index, num_nodes=nodes), seed=0, **fit)
            row[mixing] = (nmi(g.y, model.labels_), normalized_cut(model.labels_, g.edge_index, num_clusters=NUM_CLUSTERS))
    return row


def markdown(starts: List[Dict], inputs: List[Dict], default: Tuple[int, int, float], nodes: int,
             command: str) -> str:
    lines = ["# The featureless path's settings", "",
             "Script and methods: `benchmarks/featureless_choices.py`. NMI against the planted blocks "
             "(the classes on Cora and CiteSeer), discrete k-way Ncut.", "",
             "## The graph start's regularization", "",
             "Mean over the seeds where a graph has several. **Bold**: the library's choice.", "",
             "| graph | " + " | ".join(f"{'**' if r == 'mean_degree' else ''}tau = {r}{'**' if r == 'mean_degree' else ''}"
                                       " NMI / Ncut" for r in map(str, REGULARIZATIONS)) + " |",
             "|---|" + "---|" * len(REGULARIZATIONS)]
    for name in dict.fromkeys(r["graph"] for r in starts):
        cells = []
        for reg in map(str, REGULARIZATIONS):
            rs = [r for r in starts if r["graph"] == name and r["regularization"] == reg]
            cells.append(f"{np.mean([r['nmi'] for r in rs]):.3f} / {np.mean([r['ncut'] for r in rs]):.2f}")
        lines.append(f"| {name} ({len(rs)} seed{'s' if len(rs) > 1 else ''}) | " + " | ".join(cells) + " |")
    lines += ["", "## The model's input", "",
              "Setting: random vectors per cluster / whitened directions kept per cluster / shrinkage. "
              "Grown graph: old nodes whose prediction is unchanged (mean, lowest of 6 fits) and new nodes "
              "placed with their community. Cora's graph: NMI / Ncut of `labels_`, the partition kept, "
              f"share of `predict` equal to `labels_`. Planted: N={nodes:,}, seed 0, NMI / Ncut.", "",
              "| setting | grown: unchanged | grown: new nodes placed | Cora: NMI / Ncut | Cora: kept | "
              "Cora: predict = labels_ | planted 0.5 | planted 0.6 |", "|---|---|---|---|---|---|---|---|"]
    for row in inputs:
        name = " / ".join(f"{v:g}" for v in row["setting"])
        name = f"**{name}** (default)" if tuple(row["setting"]) == tuple(default) else name
        mean, low, placed, cases = row["grown"]
        cora = row.get("Cora")
        cora_cells = ["-"] * 3 if cora is None else [f"{cora[0]:.3f} / {cora[1]:.3f}", cora[2], f"{cora[3]:.3f}"]
        lines.append(f"| {name} | {mean:.3f} (lowest {low:.3f}) | {placed} of {cases} | " + " | ".join(cora_cells)
                     + f" | {row[0.5][0]:.3f} / {row[0.5][1]:.2f} | {row[0.6][0]:.3f} / {row[0.6][1]:.2f} |")
    lines += ["", "Command:", "", "```", command, "```", ""]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small graphs and short fits (a smoke test)")
    parser.add_argument("--root", default=str(REPO.parent / "shared" / "datasets"),
                        help="data root holding Planetoid/{Cora,CiteSeer}/raw (read only: processed in a copy)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="output directory")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    import neuncut_pyg.models.featureless as featureless_input

    default = tuple(getattr(featureless_input, lever) for lever in _LEVERS)
    sizes, nodes, fit = ([(600, 1)], 600, {"epochs": 20, "n_init": 1}) if args.quick else \
        ([(2000, 3), (20000, 1)], 2000, {})
    citation = citation_graphs(Path(args.root))
    starts = start_rows(sizes, citation)
    print(f"starts: {len(starts)} rows", flush=True)
    inputs = []
    for setting in (INPUTS[:2] if args.quick else INPUTS):
        inputs.append(input_row(setting, citation, nodes, {**fit, "progress": False}))
        print(f"input {setting}: done", flush=True)
    name = "featureless_choices_quick" if args.quick else "featureless_choices"
    ResultsFile(Path(args.out), name).finish(markdown(starts, inputs, default, nodes,
                                                      command_line("featureless_choices", argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
