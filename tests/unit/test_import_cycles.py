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


def _module_names(root: Path) -> dict[str, Path]:
    """Dotted module names under the package (a package's ``__init__`` is the package itself)."""
    names = {}
    for path in root.rglob("*.py"):
        parts = [PACKAGE, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _target(name: str, modules: set[str]) -> str | None:
    """The module an import of ``name`` loads: the longest part of it that is one of ours."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _imported(node: ast.AST, here: str, is_package: bool, modules: set[str]) -> set[str]:
    """The package's modules one import statement loads (absolute or relative)."""
    if isinstance(node, ast.Import):
        found = {_target(alias.name, modules) for alias in node.names}
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            package = here.split(".") if is_package else here.split(".")[:-1]
            anchor = package[: len(package) - (node.level - 1)]
            base = ".".join([*anchor, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        if base != PACKAGE and not base.startswith(PACKAGE + "."):
            return set()
        # from a.b import c: the module a.b.c where c is one, else a.b itself
        found = {_target(f"{base}.{alias.name}", modules) for alias in node.names}
    else:
        return set()
    return {m for m in found if m is not None}


def _imports(tree: ast.AST, here: str, is_package: bool, modules: set[str]) -> set[str]:
    found: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)  # the body never runs; an else branch would
            continue
        found |= _imported(node, here, is_package, modules)
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph(root: Path) -> Graph:
    """Each module of the package (subpackages too) and the package's modules it imports."""
    sources = _module_names(root)
    modules = set(sources)
    return {
        name: _imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", modules)
        - {name}
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
    # the graph was read from the real package, its subpackage too
    assert {"idphoto.config", "idphoto.options", "idphoto.specs", "idphoto.api.resolver"} <= set(graph)
    assert "idphoto.api.contract" in graph["idphoto.api.present"]

    assert cycles(graph) == [], f"import cycles among the layer's modules: {cycles(graph)}"


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The checker itself: absolute, from-package, relative and deferred imports make edges, in
    subpackages too; TYPE_CHECKING-only imports do not; a cycle through a deferred import is found."""
    files = {
        "__init__.py": "",
        "a.py": "from idphoto.b import x\n",
        "b.py": "def f():\n    from idphoto import c\n",
        "c.py": "import idphoto.a\n",
        "d.py": "from . import e\nfrom .e import y\n",
        "e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from idphoto import d\n",
        "sub/__init__.py": "from .f import z\n",
        "sub/f.py": "from .. import e\nfrom idphoto.sub import g\n",
        "sub/g.py": "from idphoto.sub.f import z\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")

    graph = import_graph(tmp_path)

    assert graph == {
        "idphoto": set(),
        "idphoto.a": {"idphoto.b"},
        "idphoto.b": {"idphoto.c"},
        "idphoto.c": {"idphoto.a"},
        "idphoto.d": {"idphoto.e"},
        "idphoto.e": set(),
        "idphoto.sub": {"idphoto.sub.f"},
        "idphoto.sub.f": {"idphoto.e", "idphoto.sub.g"},
        "idphoto.sub.g": {"idphoto.sub.f"},
    }
    assert cycles(graph) == [["idphoto.a", "idphoto.b", "idphoto.c"], ["idphoto.sub.f", "idphoto.sub.g"]]
