"""The parts of provision depend one way: no import cycles between top-level parts.

A part is a direct child of the `provision` package (a module or a subpackage).  Every import
counts, also those inside functions (they are how a cycle hides); `if TYPE_CHECKING:` imports
count too, since they still couple the parts' interfaces.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "provision"


def _imported_modules(path: Path, module: str) -> Iterator[str]:
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            yield target
            for alias in node.names:  # `from provision import pxe` imports the part pxe
                yield f"{target}.{alias.name}"


def part_of(module: str, package: Path = PACKAGE) -> str | None:
    names = module.split(".")
    if names[0] != "provision" or len(names) < 2:
        return None
    candidate = package / names[1]
    if candidate.is_dir() or candidate.with_suffix(".py").is_file():
        return names[1]
    return None


def part_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        module = ".".join(parts)
        source = part_of(module, package)
        if source is None:
            continue
        deps = graph.setdefault(source, set())
        for target in _imported_modules(path, module):
            dest = part_of(target, package)
            if dest is not None and dest != source:
                deps.add(dest)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle as a path [a, b, ..., a], or [] when the graph is acyclic."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_no_import_cycles_between_parts() -> None:
    graph = part_graph()
    assert {"cli", "commands", "builder", "snapshots", "server", "pxe"} <= set(graph)
    cycle = find_cycle(graph)
    assert not cycle, "import cycle between parts: " + " -> ".join(cycle)


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        pytest.param({"a": {"b"}, "b": {"c"}, "c": set()}, [], id="chain"),
        pytest.param({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"], id="two"),
        pytest.param({"a": {"b"}, "b": {"c"}, "c": {"b"}}, ["b", "c", "b"], id="tail"),
    ],
)
def test_find_cycle(graph: dict[str, set[str]], cycle: list[str]) -> None:
    assert find_cycle(graph) == cycle


def test_function_level_imports_count(tmp_path: Path) -> None:
    pkg = tmp_path / "provision"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("def f():\n    from provision.b import x\n")
    (pkg / "b.py").write_text("from provision import a\n")
    graph = part_graph(pkg)
    assert graph == {"a": {"b"}, "b": {"a"}}
