"""The layout shows the layers: bot (domain) → handlers → jobs → channels → cli, imports only
going downward, no import cycle between modules, and no project import hidden in a function."""
from __future__ import annotations

import ast
from pathlib import Path

from bot.config import PROJECT_ROOT

LAYERS = ("bot", "handlers", "jobs", "channels", "cli")


def _modules() -> dict[str, Path]:
    found = {}
    for root in LAYERS:
        for path in (PROJECT_ROOT / root).rglob("*.py"):
            name = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {n for n in _imports(ast.parse(path.read_text(encoding="utf-8"))) if n in modules and n != name}
            for name, path in modules.items()}


def test_imports_only_go_down_the_layers():
    upward = [(m, d) for m, deps in _graph().items() for d in deps
              if LAYERS.index(d.split(".")[0]) > LAYERS.index(m.split(".")[0])]
    assert upward == []


def test_no_import_cycle():
    graph = _graph()
    seen: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for dep in sorted(graph[node]):
            if seen.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in seen:
                visit(dep, path + [dep])
        seen[node] = 2

    for name in sorted(graph):
        if name not in seen:
            visit(name, [name])
    assert cycles == []


def test_no_project_import_inside_a_function():
    hidden = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                hidden += [(name, n) for n in _imports(node) if n.split(".")[0] in LAYERS]
    assert hidden == []
