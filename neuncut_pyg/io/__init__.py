r"""Reading graphs, node tables and assignments from files, and writing results atomically.

The command line (:mod:`neuncut_pyg.cli`) reads user files through this package only, so every
malformed input ends in one exception type, :class:`InputError`, whose message names the file
and, for a bad row, its line number.

File formats:

- **Edge list** (:func:`read_edge_list`): one edge per line, ``src,dst`` or ``src,dst,weight``,
  separated by commas, tabs or runs of whitespace (sniffed from the first row). Node ids are
  arbitrary strings (``"42"``, ``"alice"``). An optional header row is recognised by its column
  names (``src``/``dst``, ``source``/``target``, ...) or by a non-numeric weight column. Blank
  lines and lines starting with ``#`` are skipped.
- **Features** (:func:`read_features`): a ``.npy`` array ``[N, F]`` whose rows follow the
  node order of the graph, or a delimited text file whose first column is the node id and whose
  remaining columns are the features (rows in any order, optional header).
- **Labels and assignments** (:func:`read_labels`, :func:`read_assignments`): delimited text
  with the node id first, then a label (or cluster id).
- **Node list** (:func:`read_node_list`): one node id per line; any further columns are
  ignored, so a features or assignments file serves as a node list too.

An edge list cannot name a node without edges; :func:`read_graph` adds the nodes that only a
features file or a node list names to the graph, as isolated nodes.

**How files are read.** Tables are parsed by pandas' C reader, one row per line
(:mod:`~neuncut_pyg.io.tables`); node ids are numbered by :func:`pandas.factorize` and the graph
is built by sorting integer keys (:mod:`~neuncut_pyg.io.edges`). The line rules
(:mod:`~neuncut_pyg.io.lines`) stay the reference: rows the fast path cannot vouch for (blank or
comment lines between the rows, empty fields, values that are not finite numbers) are looked up in the file and checked by them, so an error names the same line and says
the same thing as a line-by-line reader would; a file whose rows pandas cannot map to lines
(a quoted field spanning lines, a comment line with more fields than the data) is read line by
line.

Writers (:mod:`~neuncut_pyg.io.writing`) replace a file in one move, so a reader sees either
the old file or the complete new one; :func:`output_directory` checks that a destination can be
written before any work starts.

Imports flow one way: ``base`` (the error type) <- ``lines`` <- ``tables`` <- ``edges`` <-
``nodes`` (node tables, matched to a graph's ids) <- ``graph`` (an edge list plus the nodes
without edges); ``writing`` needs only ``base``.
"""
from neuncut_pyg.io.base import InputError
from neuncut_pyg.io.edges import read_edge_list
from neuncut_pyg.io.graph import FileGraph, read_graph
from neuncut_pyg.io.nodes import read_assignments, read_features, read_labels, read_node_list
from neuncut_pyg.io.writing import atomic_path, atomic_torch_save, atomic_write_csv, atomic_write_text, output_directory

__all__ = [
    "InputError",
    "FileGraph",
    "read_edge_list",
    "read_graph",
    "read_features",
    "read_labels",
    "read_assignments",
    "read_node_list",
    "output_directory",
    "atomic_path",
    "atomic_write_text",
    "atomic_write_csv",
    "atomic_torch_save",
]
