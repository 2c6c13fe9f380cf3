"""The layer package has no import cycle: a module that imports one that imports it back is half
initialised when the other asks for its names (an AttributeError or ImportError that depends on which
module a handler happens to import first), and cannot be understood, tested or loaded on its own.

Every import counts, at module level or inside a function (a deferred import is a cycle still, only
a later one), except those under ``if TYPE_CHECKING:``, which never run."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "idphoto"
ROOT = Path(__file__).resolve().parents[2] / "layers" / "idphoto" / PACKAGE
Graph = dict[str, set[str]]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.AST, modules: set[str]) -> set[str]:
    """The package's modules one import statement names (absolute or relative)."""
    if isinstance(node, ast.Import):
        parts = [alias.name.split(".") for alias in node.names]
        return {p[1] for p in parts if len(p) > 1 and p[0] == PACKAGE and p[1] in modules}
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        if node.level == 0 and module != PACKAGE and not module.startswith(PACKAGE + "."):
            return set()
        inner = module.split(".") if node.level else module.split(".")[1:]
        if inner and inner[0]:
            return {inner[0]} & modules
        return {alias.name for alias in node.names} & modules  # from idphoto import a, b / from . import a
    return set()


def _imports(tree: ast.AST, modules: set[str]) -> set[str]:
    found: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)  # the body never runs; an else branch would
            continue
        found |= _imported(node, modules)
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph(root: Path) -> Graph:
    sources = {p.stem: p for p in root.glob("*.py")}
    modules = set(sources) - {"__init__"}
    return {
        name: _imports(ast.parse(path.read_text(encoding="utf-8")), modules) - {name}
        for name, path in sources.items()
    }


def cycles(graph: Graph) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_layer_package_has_no_import_cycle() -> None:
    graph = import_graph(ROOT)
    assert {"config", "options", "specs"} <= set(graph)  # the graph was read from the real package

    assert cycles(graph) == [], f"import cycles among the layer's modules: {cycles(graph)}"


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The checker itself: absolute, from-package, relative and deferred imports make edges;
    TYPE_CHECKING-only imports do not; a cycle through a deferred import is found."""
    files = {
        "a.py": "from idphoto.b import x\n",
        "b.py": "def f():\n    from idphoto import c\n",
        "c.py": "import idphoto.a\n",
        "d.py": "from . import e\nfrom .e import y\n",
        "e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from idphoto import d\n",
        "__init__.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")

    graph = import_graph(tmp_path)

    assert graph == {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": set(), "__init__": set()}
    assert cycles(graph) == [["a", "b", "c"]]
