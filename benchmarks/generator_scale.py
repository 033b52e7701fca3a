"""Time and peak memory of ``planted_partition_graph`` at OGB sizes, one fresh process per size.

Target (issue: a planted-partition generator at OGB scale): an ``ogbn-products``-sized graph
(2,449,029 nodes, ~61.9M undirected edges, 47 communities, 100 features) in under 3 minutes
and 8 GB peak RSS on two cores.

    python benchmarks/generator_scale.py                      # arxiv and products sizes
    python benchmarks/generator_scale.py --sizes small arxiv  # a quick look

Each size runs in its own subprocess so that the peak resident set sizes (``ru_maxrss``,
which includes the ~0.3 GB of importing torch and PyG) do not mix. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Dict

# name -> (num_nodes, num_communities, avg_degree, num_features); the OGB sizes are the node
# counts, label counts and average degrees of ogbn-arxiv and ogbn-products (undirected).
SIZES: Dict[str, tuple] = {
    "small": (20_000, 10, 20.0, 64),
    "arxiv": (169_343, 40, 13.7, 128),
    "products": (2_449_029, 47, 50.5, 100),
}

CHILD = r"""
import json, resource, sys, time
import numpy as np
import torch
torch.set_num_threads({threads})
from neuncut_pyg.generators import planted_partition_graph

start = time.perf_counter()
data = planted_partition_graph({num_nodes}, {num_communities}, {avg_degree}, mixing={mixing},
                               num_features={num_features}, seed={seed})
seconds = time.perf_counter() - start
peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
# Edge statistics after the peak is read, in chunks so they barely allocate.
row, col, y = data.edge_index[0], data.edge_index[1], data.y
crossing = 0
for chunk in range(0, row.numel(), 1 << 24):
    crossing += int((y[row[chunk:chunk + (1 << 24)]] != y[col[chunk:chunk + (1 << 24)]]).sum())
degree = torch.bincount(row, minlength=data.num_nodes)
print(json.dumps(dict(
    seconds=seconds, peak_gib=peak_gib, directed_edges=row.numel(),
    avg_degree=row.numel() / data.num_nodes, mixing=crossing / row.numel(),
    max_degree=int(degree.max()), isolated=int((degree == 0).sum()),
    largest_community=int(torch.bincount(y).max()), smallest_community=int(torch.bincount(y).min()),
)))
"""


def run_size(name: str, mixing: float, seed: int, threads: int) -> dict:
    num_nodes, num_communities, avg_degree, num_features = SIZES[name]
    code = CHILD.format(
        threads=threads, num_nodes=num_nodes, num_communities=num_communities, avg_degree=avg_degree,
        mixing=mixing, num_features=num_features, seed=seed,
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"size {name!r} failed:\n{result.stderr}")
    row = json.loads(result.stdout.strip().splitlines()[-1])
    row.update(name=name, num_nodes=num_nodes, num_communities=num_communities,
               requested_degree=avg_degree, num_features=num_features)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["arxiv", "products"])
    parser.add_argument("--mixing", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads in each child process")
    args = parser.parse_args()

    print(f"mixing mu = {args.mixing}, seed = {args.seed}, {args.threads} torch threads\n")
    print("| size | nodes | communities (largest / smallest) | features | avg degree requested / achieved "
          "| undirected edges | mixing achieved | max degree | isolated nodes | seconds | peak RSS (GiB) |")
    print("|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for name in args.sizes:
        r = run_size(name, args.mixing, args.seed, args.threads)
        print(
            f"| {name} | {r['num_nodes']:,} | {r['num_communities']} ({r['largest_community']:,} / "
            f"{r['smallest_community']:,}) | {r['num_features']} | {r['requested_degree']} / "
            f"{r['avg_degree']:.3f} | {r['directed_edges'] // 2:,} | {r['mixing']:.4f} | "
            f"{r['max_degree']:,} | {r['isolated']:,} | {r['seconds']:.1f} | {r['peak_gib']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
