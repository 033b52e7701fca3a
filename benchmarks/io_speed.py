"""Reading a big edge list: ``neuncut_pyg.io.read_edge_list`` next to pandas' C reader.

Generates a CSV edge list with string node ids (``u0`` ... ``u{N-1}``, random pairs, a
``src,dst`` header), then times these readers of it in one run:

- **baseline**: pandas' C reader (``dtype=str``) plus ``pd.factorize`` of the ids: the least a
  reader that checks the file and numbers the nodes has to do; also with ``dtype=object``, the
  way read_edge_list parses ids (it skips pandas 3's conversion to its string dtype);
- **old reader**: ``read_edge_list`` as it was before it used pandas (a line-by-line Python
  parser; a copy is kept below so that before and after come from one run);
- **read_edge_list**: the package's reader (parse, factorize, checks, the undirected sorted graph).

Each reader runs in a forked child of this process, so the timings share the run and the peak
RSS increase (``VmHWM`` at the end minus the RSS at the start) is each reader's own. Target
(issue 18): ``read_edge_list`` in at most 1.5x the baseline's time on 10M edges.

    python benchmarks/io_speed.py                  # 10M edges over 2M nodes; writes results/io_speed.md
    python benchmarks/io_speed.py --edges 1000000  # a smaller file
    python benchmarks/io_speed.py --quick          # 20k edges, a smoke test (writes nothing by default)
"""
from __future__ import annotations

import argparse
import math
import os
import pickle
import re
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import torch

from neuncut_pyg.io import InputError, read_edge_list

RESULTS = Path(__file__).resolve().parent / "results" / "io_speed.md"


# ---------------------------------------------------------------------------------------------
# The old reader: neuncut_pyg.io.read_edge_list before issue 18 (line by line), copied as it was
# ---------------------------------------------------------------------------------------------

_OLD_EDGE_HEADER_NAMES = {
    "src", "dst", "source", "target", "from", "to", "u", "v", "node1", "node2", "node_1",
    "node_2", "head", "tail", "i", "j", "weight", "w", "id1", "id2",
}


def _old_read_text(path, what):
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} file not found: {p}")
    if p.is_dir():
        raise InputError(f"{what} file {p} is a directory, not a file")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{what} file {p} is not UTF-8 text ({err})") from err
    except OSError as err:
        raise InputError(f"cannot read {what} file {p}: {err.strerror or err}") from err


def _old_rows(text):
    import csv

    lines = text.splitlines()
    first = next((line for line in lines if line.strip() and not line.lstrip().startswith("#")), None)
    if first is None:
        return
    if "," in first:
        delimiter = ","
    elif "\t" in first:
        delimiter = "\t"
    else:
        delimiter = None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if delimiter is None:
            fields = stripped.split()
        else:
            fields = [field.strip() for field in next(csv.reader([line], delimiter=delimiter))]
        yield number, fields


def _old_is_number(field):
    try:
        float(field)
    except ValueError:
        return False
    return True


def _old_parse_float(field, path, line, what):
    try:
        value = float(field)
    except ValueError:
        raise InputError(f"{path}, line {line}: {what} {field!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{path}, line {line}: {what} {field!r} is not finite")
    return value


def _old_looks_like_edge_header(fields):
    names = [re.sub(r"[\s\-]+", "_", field.lower()) for field in fields]
    if any(name in _OLD_EDGE_HEADER_NAMES for name in names[:2]):
        return True
    return len(fields) == 3 and not _old_is_number(fields[2])


def old_read_edge_list(path):
    """The old reader (line-by-line Python parsing, ``dict`` id lookup, PyG's ``coalesce``)."""
    from torch_geometric.utils import coalesce

    text = _old_read_text(path, "edge list")
    ids = {}
    src, dst, weights = [], [], []
    num_columns = None
    for line, fields in _old_rows(text):
        if num_columns is None:
            if len(fields) not in (2, 3):
                raise InputError(
                    f"{path}, line {line}: expected 2 columns (src, dst) or 3 (src, dst, weight), "
                    f"got {len(fields)}"
                )
            num_columns = len(fields)
            if _old_looks_like_edge_header(fields):
                continue
        if len(fields) != num_columns:
            raise InputError(
                f"{path}, line {line}: expected {num_columns} columns like the first row, got {len(fields)}"
            )
        u, v = fields[0], fields[1]
        if not u or not v:
            raise InputError(f"{path}, line {line}: empty node id")
        if num_columns == 3:
            weight = _old_parse_float(fields[2], path, line, "weight")
            if weight < 0:
                raise InputError(f"{path}, line {line}: negative weight {fields[2]!r}; affinities must be >= 0")
            weights.append(weight)
        src.append(ids.setdefault(u, len(ids)))
        dst.append(ids.setdefault(v, len(ids)))
    if not src:
        raise InputError(f"edge list {path} holds no edges: the graph is empty")

    row = torch.tensor(src, dtype=torch.long)
    col = torch.tensor(dst, dtype=torch.long)
    edge_index = torch.stack([torch.cat([row, col]), torch.cat([col, row])])
    edge_weight = torch.tensor(weights, dtype=torch.float32).repeat(2) if num_columns == 3 else None
    if edge_weight is None:
        edge_index = coalesce(edge_index, num_nodes=len(ids))
    else:
        edge_index, edge_weight = coalesce(edge_index, edge_weight, num_nodes=len(ids), reduce="max")
    return edge_index, edge_weight, list(ids)


# ---------------------------------------------------------------------------------------------
# The baseline and the measurement
# ---------------------------------------------------------------------------------------------


def pandas_factorize(path, dtype=str) -> int:
    """pandas' C reader with string ids, then ``pd.factorize`` of both id columns together."""
    frame = pd.read_csv(path, engine="c", dtype=dtype, header=0, names=["src", "dst"])
    codes, ids = pd.factorize(np.concatenate([frame["src"].to_numpy(), frame["dst"].to_numpy()]))
    return len(ids)


#: Each reader returns the number of nodes it found (the readers must agree). The first is the
#: baseline. ``dtype=object`` skips the conversion to pandas' string dtype that ``dtype=str``
#: makes (pandas 3); read_edge_list parses ids that way too.
READERS: Dict[str, Callable[[Path], int]] = {
    "pandas C reader (dtype=str) + factorize (baseline)": pandas_factorize,
    "pandas C reader (dtype=object) + factorize": lambda path: pandas_factorize(path, dtype=object),
    "read_edge_list (this package)": lambda path: len(read_edge_list(path)[2]),
    "old reader (line by line, before issue 18)": lambda path: len(old_read_edge_list(path)[2]),
}


def write_edge_list(path: Path, num_edges: int, num_nodes: int, seed: int = 0) -> None:
    """A ``src,dst`` CSV of ``num_edges`` random pairs over ids ``u0`` ... ``u{num_nodes-1}``."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"u{i}" for i in range(num_nodes)], dtype=object)
    with open(path, "w") as file:
        file.write("src,dst\n")
        for start in range(0, num_edges, 1_000_000):
            count = min(1_000_000, num_edges - start)
            src = ids[rng.integers(0, num_nodes, count)]
            dst = ids[rng.integers(0, num_nodes, count)]
            file.write("".join(f"{a},{b}\n" for a, b in zip(src.tolist(), dst.tolist())))


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure(reader: Callable, path: Path) -> Tuple[float, float, float, int]:
    """``(seconds, CPU seconds, peak RSS increase in MiB, number of nodes)`` of ``reader(path)`` in a
    forked child. CPU seconds (one thread) are the steadier measure on a machine shared with other work."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, report, exit without cleanup
        os.close(read_end)
        try:
            start_kib = _status_kib("VmRSS")
            start, start_cpu = time.perf_counter(), time.process_time()
            num_nodes = reader(path)
            seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
            peak_kib = _status_kib("VmHWM")
            report = (seconds, cpu, (peak_kib - start_kib) / 1024, num_nodes)
        except BaseException as err:  # noqa: BLE001 - reported to the parent
            report = err
        with os.fdopen(write_end, "wb") as pipe:
            pickle.dump(report, pipe)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pickle.load(pipe)
    os.waitpid(pid, 0)
    if isinstance(report, BaseException):
        raise report
    return report


def run(num_edges: int, num_nodes: int, repeats: int, readers: Sequence[str], workdir: Path
        ) -> Tuple[List[Tuple[str, float, float, float, float, float]], Dict[str, object]]:
    path = workdir / "edges.csv"
    start = time.perf_counter()
    write_edge_list(path, num_edges, num_nodes)
    info = {"edges": num_edges, "nodes": num_nodes, "bytes": path.stat().st_size,
            "generate_s": time.perf_counter() - start}
    times: Dict[str, List[float]] = {name: [] for name in readers}
    cpus: Dict[str, List[float]] = {name: [] for name in readers}
    peaks: Dict[str, List[float]] = {name: [] for name in readers}
    counts = set()
    for repeat in range(repeats):  # interleaved, so that load on the machine hits every reader alike
        for name in readers:
            if repeat and name.startswith("old"):
                continue  # minutes at full size; once is enough to compare
            seconds, cpu, peak, count = measure(READERS[name], path)
            times[name].append(seconds)
            cpus[name].append(cpu)
            peaks[name].append(peak)
            counts.add(count)
            print(f"  {name}: {seconds:.2f} s ({cpu:.2f} s CPU), +{peak:.0f} MiB", file=sys.stderr, flush=True)
    if len(counts) != 1:
        raise RuntimeError(f"the readers disagree on the number of nodes: {sorted(counts)}")
    info["nodes_read"] = counts.pop()
    wall, cpu = ({name: statistics.median(runs[name]) for name in readers} for runs in (times, cpus))
    rows = [(name, wall[name], cpu[name], max(peaks[name]), wall[name] / wall[readers[0]], cpu[name] / cpu[readers[0]])
            for name in readers]
    info["times"] = times
    return rows, info


def table(rows, info, command: str, repeats: int) -> str:
    lines = [
        "# benchmarks/io_speed.py results (2 shared cores)",
        "",
        f"A CSV edge list of {info['edges']:,} edges with string ids over {info['nodes']:,} node ids "
        f"({info['nodes_read']:,} of them used), {info['bytes'] / 1e6:.0f} MB. Each reader ran {repeats} time(s) "
        "(the old reader once) in a forked child of one process, interleaved, on one thread; seconds (wall and "
        "CPU) are the median, peak RSS the largest increase. On a machine shared with other work, CPU seconds "
        "are the steadier measure.",
        "",
        "| reader | seconds | CPU seconds | peak RSS increase (MiB) | time / baseline | CPU time / baseline |",
        "|---|---|---|---|---|---|",
    ]
    for name, seconds, cpu, peak, ratio, cpu_ratio in rows:
        lines.append(f"| {name} | {seconds:.2f} | {cpu:.2f} | {peak:.0f} | {ratio:.2f} | {cpu_ratio:.2f} |")
    runs = "; ".join(f"{name}: " + ", ".join(f"{t:.2f}" for t in ts) for name, ts in info["times"].items())
    lines += [
        "",
        f"Every run's seconds: {runs}. pandas {pd.__version__}, numpy {np.__version__}, torch {torch.__version__}; "
        f"pyarrow {'installed' if _has_pyarrow() else 'not installed'}.",
        "",
        f"Command: `{command}`",
        "",
    ]
    return "\n".join(lines)


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=10_000_000, help="edges in the file (default: 10,000,000)")
    parser.add_argument("--nodes", type=int, default=None, help="node ids to draw from (default: edges / 5)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each reader, the old one once (default: 1)")
    parser.add_argument("--quick", action="store_true", help="20,000 edges: a smoke test")
    parser.add_argument("--skip-old", action="store_true", help="leave out the old reader (slow on big files)")
    parser.add_argument("--output", type=Path, default=None,
                        help="Markdown file for the table (default: benchmarks/results/io_speed.md; with --quick, none)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    num_edges = 20_000 if args.quick else args.edges
    num_nodes = args.nodes or max(2, num_edges // 5)
    readers = [name for name in READERS if not (args.skip_old and name.startswith("old"))]
    with tempfile.TemporaryDirectory(prefix="io_speed.") as workdir:
        rows, info = run(num_edges, num_nodes, args.repeats, readers, Path(workdir))
    command = " ".join(["python", "benchmarks/io_speed.py", *map(shlex.quote, argv if argv is not None else sys.argv[1:])])
    text = table(rows, info, command, args.repeats)
    print(text)
    output = args.output if args.output is not None else (None if args.quick else RESULTS)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
