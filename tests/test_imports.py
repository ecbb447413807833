"""The package's modules import each other without a circle, so that a dispatch reads
top-down: facade -> dispatcher -> router -> one delivery strategy."""

from __future__ import annotations

import ast
from pathlib import Path

import django_events

PACKAGE = Path(django_events.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Imports(ast.NodeVisitor):
    """Every module of the package that a module imports, at its top or inside a function;
    imports that only type checkers see (``if TYPE_CHECKING:``) do not count."""

    def __init__(self, module: str, is_package: bool, modules: set[str]) -> None:
        self.package = module if is_package else module.rpartition(".")[0]
        self.modules = modules
        self.found: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            anchor = self.package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self._add(submodule if submodule in self.modules else base)

    def _add(self, name: str) -> None:
        if name in self.modules:
            self.found.add(name)


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(path) for path in paths}
    graph = {}
    for path in paths:
        name = _module_name(path)
        visitor = _Imports(name, path.name == "__init__.py", modules)
        visitor.visit(ast.parse(path.read_text(), str(path)))
        graph[name] = visitor.found - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle found by a depth-first walk (each reported once, from its first module)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    return found


def test_no_module_of_the_package_imports_one_that_imports_it_back() -> None:
    graph = import_graph()
    assert len(graph) > 20  # every module was read
    assert cycles(graph) == []


def test_the_core_knows_nothing_of_tests_tasks_or_transactions() -> None:
    graph = import_graph()
    elsewhere = {
        "django_events.testing",
        "django_events.tasks",
        "django_events.delivery.commit",
        "django_events.delivery.tasks",
    }
    for core in ("django_events._dispatcher", "django_events._routing", "django_events._running"):
        assert not graph[core] & elsewhere, core  # (handler options name their strategy)
        assert "django.db import transaction" not in PACKAGE.joinpath(core.split(".")[1] + ".py").read_text()
    assert {"django_events.delivery.inline", "django_events.delivery.gevent"} <= graph[
        "django_events._dispatcher"
    ]


def test_the_cycle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]
