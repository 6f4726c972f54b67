"""The package's shape, as the README's architecture section draws it.

Imports between the package's parts run one way (the layers below), and no module
reads a private attribute of another module's objects. Imports made only for type
checking (``if TYPE_CHECKING:``) are not dependencies and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import torchwarden

SRC = Path(torchwarden.__file__).parent

# part -> the parts it may import (a part is a subpackage or a top-level module)
LEAVES = {"_version", "durable", "errors", "findings", "frames", "units", "untrusted"}
ALLOWED: dict[str, set[str]] = {
    "memory": {"errors"},
    "lifecycle": {"memory", "frames", "findings", "units", "errors"},
    "nn": {"units", "errors"},
    "precision": {"errors"},
    "distributed": {"errors"},
    "contracts": {"frames", "errors"},
    "data": {"frames", "findings", "units", "errors"},
    "env": {"nn", "findings", "units", "untrusted", "errors", "_version"},
    "report": {"findings", "units", "durable", "errors", "_version"},
    "train": {"findings", "units", "durable", "errors"},
    "metrics": {"findings", "units", "untrusted", "errors"},
    "notebook": {"lifecycle", "memory", "frames", "units", "errors"},
    "runtime": {
        "lifecycle", "memory", "env", "data", "report", "metrics", "train",
        "frames", "findings", "units", "untrusted", "durable", "errors", "_version",
    },
    "web": {"runtime", "metrics", "report", "env", "units", "untrusted", "errors", "_version"},
    "cli": {
        "runtime", "env", "report", "web", "metrics", "data", "units", "errors", "_version",
    },
    "examples": {"nn", "train", "distributed", "precision", "errors"},
    "torchwarden": {"errors", "_version", "lifecycle", "runtime", "notebook"},
    "__main__": {"cli"},
}  # fmt: skip
# private names of Python, torch and the standard library that have no public spelling
FOREIGN = {"_getframe", "_current_frames", "_C", "_exit", "_fields", "_asdict", "_replace",
           "_make", "_snapshot", "_dynamo", "_inductor", "_subclasses", "_pytree", "_guards",
           "_functorch", "_prims_common", "_utils", "_utils_internal", "_logging", "_higher_order_ops",
           "_export", "_library", "_ops", "_tensor", "_jit_internal", "_lazy", "_meta_registrations"}  # fmt: skip


def _part(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "torchwarden"
    return parts[1]


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    name = ".".join(rel.parts)
    return name.removesuffix(".__init__")


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    return skip


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "torchwarden":
                found.update(f"torchwarden.{a.name}" for a in node.names)
            elif node.module.startswith("torchwarden."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("torchwarden."))
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        src = _part(_module_name(path))
        targets = {_part(m) for m in _imports(path)} - {src}
        graph.setdefault(src, set()).update(
            t for t in targets if (SRC / t).exists() or (SRC / f"{t}.py").exists() or t in LEAVES
        )
    return graph


def test_every_part_imports_only_what_its_layer_allows() -> None:
    extra = {
        f"{src} -> {dst}"
        for src, dsts in _graph().items()
        for dst in dsts
        if dst not in ALLOWED.get(src, set()) and not (src in LEAVES and dst in LEAVES)
    }
    assert not extra, (
        "imports against the layers (update README's drawing if intended):\n"
        + "\n".join(sorted(extra))
    )


def test_the_part_graph_has_no_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            assert state.get(nxt) != 1, " -> ".join([*path, node, nxt])
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [])


def _sources() -> dict[str, str]:
    return {_module_name(path): path.read_text() for path in SRC.rglob("*.py")}


def _private_reads(sources: dict[str, str]) -> list[str]:
    """``module:line`` of each read of a private name that another module defines."""
    trees = {module: ast.parse(text) for module, text in sources.items()}
    own: dict[str, set[str]] = {}  # private functions, classes and self._x, by definer
    for module, tree in trees.items():
        for node in ast.walk(tree):
            name = None
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = node.name
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and isinstance(node.ctx, ast.Store)
            ):
                name = node.attr
            if name and name.startswith("_") and not name.endswith("__"):
                own.setdefault(name, set()).add(module)
    reads = []
    for module, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or node.attr in FOREIGN:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            if node.attr in own and module not in own[node.attr]:
                reads.append(
                    f"{module}:{node.lineno} reads .{node.attr} of {sorted(own[node.attr])}"
                )
    return reads


def test_no_module_reads_another_modules_private_attributes() -> None:
    reads = _private_reads(_sources())
    assert not reads, "\n".join(reads)


def test_the_scan_finds_a_private_read() -> None:
    a = "class Box:\n    def __init__(self):\n        self._items = []\n"
    b = "def peek(box):\n    return box._items\n"
    assert _private_reads({"pkg.a": a, "pkg.b": b}) == ["pkg.b:2 reads ._items of ['pkg.a']"]
    assert _private_reads({"pkg.a": a + "    def n(self):\n        return self._items\n"}) == []
