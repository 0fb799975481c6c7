"""The package boundaries, checked by reading every module's imports with ``ast``.

- nothing imports ``search_proxy`` (it is deployed alone);
- ``ingest`` never imports ``rag`` (indexing does not depend on answering);
- ``servicekit`` imports none of the services;
- no import cycles between modules, counting only imports made at module level
  (an import inside a function runs late and is how a cycle is deliberately broken).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rag", "ingest", "search_proxy", "servicekit")
FORBIDDEN = {
    "rag": ("search_proxy",),
    "ingest": ("search_proxy", "rag"),
    "servicekit": ("search_proxy", "rag", "ingest"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


MODULES = _modules()


def _resolve(importer: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(name: str, path: Path, *, top_level_only: bool) -> set[str]:
    """Modules of ours that ``name`` imports (``from a import b`` counts ``a.b`` when that is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # module level includes ``if``/``try`` blocks, not function bodies
        nodes = []
        stack: list[ast.stmt] = list(tree.body)
        while stack:
            node = stack.pop()
            nodes.append(node)
            if isinstance(node, ast.If):
                if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
                    continue  # annotations only, never executed
                stack.extend(node.body + node.orelse)
            elif isinstance(node, ast.Try):
                stack.extend(node.body + node.orelse + node.finalbody)
                for handler in node.handlers:
                    stack.extend(handler.body)
    found: set[str] = set()
    for node in nodes:
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, node, path.name == "__init__.py")
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            if target.split(".")[0] not in PACKAGES:
                continue
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def test_modules_are_found() -> None:
    assert {"rag.api.app", "ingest.reindex", "search_proxy.app", "servicekit.logs"} <= MODULES.keys()


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_forbidden_imports(package: str) -> None:
    bad = sorted(
        f"{name} imports {target}"
        for name, path in MODULES.items()
        if name.split(".")[0] == package
        for target in _imports(name, path, top_level_only=False)
        if target.split(".")[0] in FORBIDDEN[package]
    )
    assert bad == []


def test_no_import_cycles() -> None:
    graph = {name: _imports(name, path, top_level_only=True) for name, path in MODULES.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            # a package's __init__ importing its own submodules is how packages are built, not a cycle
            if node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert cycles == []


def test_the_check_sees_a_forbidden_edge(tmp_path: Path) -> None:
    """The walker itself: a module that imports search_proxy inside a function is caught."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from search_proxy.app import create_app\n    return create_app\n")
    assert "search_proxy.app" in _imports("rag.probe", probe, top_level_only=False)
    assert _imports("rag.probe", probe, top_level_only=True) == set()
