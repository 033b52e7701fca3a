"""Cost of the relaxed normalized cut next to one sparse-dense product, in one process.

The loss is one SpMM ``W @ S`` plus O(N k^2) dense work, so forward + backward should cost a small
multiple of a single ``adj @ s`` on the same data and never allocate anything of size N x N.
Target (issue: the package foundation): at N = 400k, E = 4M, k = 64 with a cached SparseTensor,
forward + backward <= 4x one SpMM, and under 3 GB of added peak memory.

    python benchmarks/loss_cost.py                    # the target size
    python benchmarks/loss_cost.py --nodes 50000 --edges 500000 --k 16   # a quick look

Prints a Markdown table; ``--plot FILE.png`` also draws it.
"""
from __future__ import annotations

import argparse
import statistics
import threading
import time
from typing import Callable, List, Tuple

import torch
from torch_sparse import SparseTensor

from neuncut_pyg import relaxed_ncut_loss


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


class PeakRSS:
    """Samples the resident set size in a thread: the peak above the level at entry."""

    def __init__(self, interval: float = 0.0005) -> None:
        self.interval = interval

    def __enter__(self) -> "PeakRSS":
        self.start = rss_bytes()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def added(self) -> int:
        return self.peak - self.start


def make_graph(num_nodes: int, num_edges: int, seed: int) -> SparseTensor:
    """A random undirected graph with about ``num_edges`` stored (directed) entries, CSR cached."""
    g = torch.Generator().manual_seed(seed)
    half = num_edges // 2
    row = torch.randint(0, num_nodes, (half,), generator=g)
    col = torch.randint(0, num_nodes, (half,), generator=g)
    adj = SparseTensor(
        row=torch.cat([row, col]), col=torch.cat([col, row]), sparse_sizes=(num_nodes, num_nodes)
    ).coalesce()
    adj = adj.fill_value(1.0, dtype=torch.float32)
    # Cache the layouts training reuses: CSR for W @ S, the CSC permutation for the backward pass.
    adj.storage.rowptr()
    adj.storage.csr2csc()
    adj.storage.colptr()
    return adj


def measure(fn: Callable[[], None], repeats: int) -> Tuple[float, int]:
    fn()  # warm-up (allocator, caches)
    times: List[float] = []
    peak = 0
    for _ in range(repeats):
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        peak = max(peak, mem.added)
    return statistics.median(times), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=400_000)
    parser.add_argument("--edges", type=int, default=4_000_000, help="stored (directed) entries")
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default=None, help="write a PNG bar chart here")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    adj = make_graph(args.nodes, args.edges, args.seed)
    logits = torch.randn(args.nodes, args.k)
    s = logits.softmax(-1).requires_grad_()

    def spmm() -> None:
        with torch.no_grad():
            adj.matmul(s)

    def spmm_fwd_bwd() -> None:
        s.grad = None
        adj.matmul(s).sum().backward()

    def loss_fwd() -> None:
        with torch.no_grad():
            relaxed_ncut_loss(s, adj)

    def loss_fwd_bwd() -> None:
        s.grad = None
        relaxed_ncut_loss(s, adj).loss.backward()

    rows = []
    base_time = None
    for name, fn in [
        ("adj @ s (one SpMM, baseline)", spmm),
        ("adj @ s, forward + backward", spmm_fwd_bwd),
        ("relaxed_ncut_loss, forward", loss_fwd),
        ("relaxed_ncut_loss, forward + backward", loss_fwd_bwd),
    ]:
        seconds, peak = measure(fn, args.repeats)
        base_time = base_time or seconds
        rows.append((name, seconds, seconds / base_time, peak / 2**30))

    nnz = adj.nnz()
    print(f"\nN = {args.nodes:,}, stored edges = {nnz:,}, k = {args.k}, threads = {torch.get_num_threads()}, "
          f"median of {args.repeats}\n")
    print("| operation | seconds | x one SpMM | added peak RSS (GiB) |")
    print("|---|---:|---:|---:|")
    for name, seconds, ratio, gib in rows:
        print(f"| {name} | {seconds:.3f} | {ratio:.2f} | {gib:.2f} |")
    dense_gib = args.nodes**2 * 4 / 2**30
    print(f"\n(an N x N float32 matrix would take {dense_gib:,.0f} GiB)")
    fb = rows[-1]
    verdict = "meets" if fb[2] <= 4.0 and fb[3] < 3.0 else "MISSES"
    print(f"target: forward + backward <= 4x one SpMM and < 3 GiB added: {verdict} ({fb[2]:.2f}x, {fb[3]:.2f} GiB)")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3))
        ax.barh([r[0] for r in rows][::-1], [r[2] for r in rows][::-1], color="tab:blue")
        ax.axvline(4.0, color="tab:red", ls="--", label="target (4x)")
        ax.set_xlabel("time relative to one SpMM")
        ax.set_title(f"N={args.nodes:,}, E={nnz:,}, k={args.k}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
