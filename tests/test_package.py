"""The package's shape: imports flow one way (no cycle between its modules), and imports inside
functions are kept for optional packages."""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, List, Optional, Set

import neuncut_pyg

PACKAGE = Path(neuncut_pyg.__file__).parent
# Packages a function may import lazily: optional extras a user need not have installed.
OPTIONAL = {"matplotlib", "pyarrow"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> Dict[str, ast.Module]:
    return {module_name(path): ast.parse(path.read_text(), str(path)) for path in PACKAGE.rglob("*.py")}


def imported(node: ast.AST, known: Set[str]) -> Set[str]:
    """The package modules an import statement loads (the package ``__init__`` for a bare name)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("neuncut_pyg"):
        names = {f"{node.module}.{alias.name}" for alias in node.names}
        return {name for name in names if name in known} or ({node.module} & known)
    return set()


def import_graph() -> Dict[str, Set[str]]:
    trees = modules()
    known = set(trees)
    return {name: set().union(*(imported(node, known) for node in ast.walk(tree))) - {name}
            for name, tree in trees.items()}


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """A cycle of ``graph`` (``a -> b -> ... -> a``), or ``None``; depth-first search."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(name: str) -> Optional[List[str]]:
        state[name] = 1
        path.append(name)
        for dep in sorted(graph.get(name, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def test_find_cycle_reports_cycles_and_only_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_inside_the_package():
    graph = import_graph()
    graph.pop("neuncut_pyg")  # the package's front door imports everything (see the next test)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_imports_the_package_front_door():
    offenders = [name for name, deps in import_graph().items() if name != "neuncut_pyg" and "neuncut_pyg" in deps]
    assert offenders == []


def test_imports_inside_functions_are_for_optional_packages_only():
    lazy = []
    for name, tree in modules().items():
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import):
                    roots = {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom):
                    roots = {(node.module or "").split(".")[0]}
                else:
                    continue
                lazy += [f"{name}.{function.name}: {root}" for root in roots - OPTIONAL]
    assert lazy == []


def test_the_removed_statistics_modes_leave_no_trace():
    # fit(statistics="running" / "full"), the "EM-like" modes, were removed with their claim that
    # their expected gradient is the full-batch one: no docstring, comment or code of the
    # package, and no test, may still offer or describe them.
    import inspect

    from neuncut_pyg import NeuNcut

    assert "statistics" not in inspect.signature(NeuNcut.fit).parameters
    pattern = re.compile(r"StatisticsTracker|EM-like|\bE-step|\bM-step|(?<![\w.])statistics\s*=")
    tests = Path(__file__).parent
    sources = list(PACKAGE.rglob("*.py")) + [p for p in tests.rglob("*.py") if p.resolve() != Path(__file__).resolve()]
    found = [f"{path}: {match.group(0)}" for path in sources for match in pattern.finditer(path.read_text())]
    assert not found, found
