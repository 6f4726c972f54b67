"""The scope engine's modules import one way, and none reads another's private attributes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import torchwarden

SRC = Path(torchwarden.__file__).parent
PACKAGES = ("lifecycle", "memory")
# private names of the interpreter and of torch that have no public spelling
FOREIGN = {
    ("sys", "_getframe"),
    ("sys", "_current_frames"),
    ("torch", "_C"),
    ("torch", "_is_functional_tensor"),
    ("t", "_base"),  # torch's view API: the tensor a view shares storage with
    ("t", "_is_view"),
}


def _imports(path: Path, package: str) -> set[str]:
    """Modules of ``package`` that ``path`` imports, at any level (functions, TYPE_CHECKING)."""
    prefix = f"torchwarden.{package}."
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found.update(n.removeprefix(prefix).split(".")[0] for n in names if n.startswith(prefix))
    return found


def _graph(package: str) -> dict[str, set[str]]:
    modules = {p.stem: p for p in (SRC / package).glob("*.py") if p.stem != "__init__"}
    return {name: _imports(path, package) & set(modules) - {name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of module names, or None (depth-first, three colours)."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_inside_the_package(package: str) -> None:
    graph = _graph(package)
    assert len(graph) >= 3, graph
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def _private_reads(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
            continue
        owner, attr = node.value.id, node.attr
        private = attr.startswith("_") and not attr.endswith("__")
        if private and owner not in ("self", "cls") and (owner, attr) not in FOREIGN:
            out.append(f"{path.name}:{node.lineno} {owner}.{attr}")
    return out


@pytest.mark.parametrize("package", PACKAGES)
def test_no_private_attribute_read_across_objects(package: str) -> None:
    paths = [*sorted((SRC / package).glob("*.py")), SRC / "runtime" / "steps.py"]
    assert [hit for p in paths for hit in _private_reads(p)] == []


def test_the_private_read_finder_finds_reads(tmp_path: Path) -> None:
    code = tmp_path / "m.py"
    code.write_text("def f(s):\n    return s._pre, self._ok, sys._getframe(0)\n")
    assert _private_reads(code) == ["m.py:2 s._pre"]
