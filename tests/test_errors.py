"""The error tree: every ``raise`` in the package raises a TorchwardenError, exported where raised.

The scan reads the source (``ast``), resolves each raised name in its module (a class, or a
helper function whose return annotation is the class), and checks it against the tree.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

import torchwarden
from torchwarden import errors

PACKAGE = Path(torchwarden.__file__).parent

# (module, raised name) -> why it may stay outside the tree. Keep this short.
ALLOWED: dict[tuple[str, str], str] = {
    ("torchwarden", "AttributeError"): (
        "module __getattr__ must raise AttributeError: Python's attribute protocol (hasattr)"
    ),
    ("torchwarden.runtime.signals", "Terminated"): (
        "internal control flow: a BaseException from the SIGTERM/SIGHUP/SIGQUIT handler to the "
        "runner, caught there and turned into the 'interrupted' status; it never reaches the user"
    ),
    ("torchwarden.runtime.signals", "KeyboardInterrupt"): (
        "Ctrl-C reaches the script as Python's own KeyboardInterrupt, as under plain python"
    ),
    ("torchwarden.cli.options", "click.BadParameter"): (
        "an option check while parsing: click prints it as a usage error naming the option, "
        "exit code 2, before any work starts"
    ),
    ("torchwarden.notebook.extension", "UsageError"): (
        "the %tw magic's boundary: IPython shows a UsageError as one line, not a traceback; "
        "its message is the NotebookArgumentError's, which NotebookExtension.command raises"
    ),
    ("torchwarden.metrics", "AttributeError"): (
        "module __getattr__ must raise AttributeError: Python's attribute protocol (hasattr)"
    ),
    ("torchwarden.metrics.events", "ValueError"): (
        "internal: a malformed event line; parse_line catches it and drops the line"
    ),
    ("torchwarden.metrics.rundir", "FileNotFoundError"): (
        "internal: a refused run file; every caller catches OSError and answers 404 alike "
        "for a missing file and a forbidden one"
    ),
    ("torchwarden.untrusted", "UntrustedInput"): (
        "internal: the leaf reader of hostile files; each caller (env.report, "
        "runtime.lease_holder) catches it and raises its own subsystem's error"
    ),
    ("torchwarden.runtime.lease_files", "self._lock_error"): (
        "a method that builds the LeaseError (typed so); the scan cannot follow the call"
    ),
    ("torchwarden.contracts.messages", "error"): (
        "a local bound to `kind(...)`, where `kind` is a ContractError subclass (typed so); "
        "the scan cannot follow the variable"
    ),
}
# the bundled examples stand in for the user's own scripts (torchwarden.frames counts them
# as user code), so they raise what a user's script would
SKIPPED_DIRS = ("examples",)


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[0] in SKIPPED_DIRS:
            continue
        names = parts[:-1] if parts[-1] == "__init__" else parts
        yield ".".join(("torchwarden", *names)), path


def _raised(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:  # a bare `raise` re-raises
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            yield node.lineno, ast.unparse(target)


def _imported(path: Path) -> dict[str, str]:
    """Names imported anywhere in the file (also inside functions) -> their module."""
    return {
        (alias.asname or alias.name): node.module
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }


def _resolve(module_name: str, path: Path, expression: str) -> type[BaseException] | None:
    """The exception class ``expression`` raises in ``module_name``, or None if unknown."""
    head, *rest = expression.split(".")
    module = importlib.import_module(module_name)
    value: object = getattr(module, head, None)
    if value is None and head in _imported(path):  # imported where it is raised
        value = getattr(importlib.import_module(_imported(path)[head]), head, None)
    if value is None:
        value = getattr(builtins, head, None)
    for part in rest:
        value = getattr(value, part, None)
    if inspect.isclass(value) and issubclass(value, BaseException):
        return value
    if inspect.isfunction(value):  # a helper that builds the error: trust its annotation
        returned = typing.get_type_hints(value).get("return")
        return returned if inspect.isclass(returned) else None
    return None


def raise_sites() -> list[tuple[str, int, str, type[BaseException] | None]]:
    return [
        (module, line, name, _resolve(module, path, name))
        for module, path in _modules()
        for line, name in _raised(path)
    ]


def test_every_raise_is_a_torchwarden_error() -> None:
    sites = raise_sites()
    assert len(sites) > 50, "the scan found too few raise statements: is it reading the source?"
    outside = [
        f"{module}:{line} raises {name} ({cls})"
        for module, line, name, cls in sites
        if (module, name) not in ALLOWED
        and not (cls is not None and issubclass(cls, errors.TorchwardenError))
    ]
    assert not outside, "raise a class of torchwarden.errors instead:\n" + "\n".join(outside)


def test_the_allow_list_has_no_stale_rows() -> None:
    found = {(module, name) for module, _, name, _ in raise_sites()}
    assert set(ALLOWED) <= found


def _subpackage(module: str) -> str:
    """``torchwarden.env.probes.runner`` -> ``torchwarden.env``; top-level modules -> the root."""
    parts = module.split(".")
    is_package = len(parts) > 1 and (PACKAGE / parts[1]).is_dir()
    return ".".join(parts[:2]) if is_package else "torchwarden"


# the command line is not an import surface: what it raises is a subsystem's error,
# exported by that subsystem (and by the root package)
NOT_IMPORT_SURFACES = ("torchwarden.cli",)


def test_each_error_is_importable_from_the_subpackage_that_raises_it() -> None:
    missing = []
    for module, line, _, cls in raise_sites():
        if cls is None or not issubclass(cls, errors.TorchwardenError):
            continue
        if _subpackage(module) in NOT_IMPORT_SURFACES:
            continue
        package = importlib.import_module(_subpackage(module))
        if getattr(package, cls.__name__, None) is not cls or cls.__name__ not in package.__all__:
            missing.append(f"{package.__name__}.{cls.__name__} (raised at {module}:{line})")
    assert not missing, "re-export these (and list them in __all__):\n" + "\n".join(missing)


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_exported_by_the_root_package(name: str) -> None:
    assert getattr(torchwarden, name) is getattr(errors, name)
    assert name in torchwarden.__all__


def _drawn_tree() -> dict[str, str]:
    """Each class in the docstring's drawing -> the class drawn as its parent."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []  # (indent, name) of the rows above, outermost first
    for row in (errors.__doc__ or "").splitlines():
        if "──" not in row and row.strip() != "TorchwardenError":
            continue
        name = row.split("──")[-1].split()[0]
        indent = len(row) - len(row.lstrip(" │├└─"))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parents[name] = stack[-1][1] if stack else ""
        stack.append((indent, name))
    return parents


def test_the_docstring_draws_the_tree_as_it_is() -> None:
    drawn = _drawn_tree()
    assert set(drawn) == set(errors.__all__)
    for name, parent in drawn.items():
        base = getattr(errors, name).__bases__[0]
        assert parent == ("" if base is Exception else base.__name__), name


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("ScopeArgumentError", ValueError),
        ("ScopeArgumentError", TypeError),
        ("DataArgumentError", ValueError),
        ("DataArgumentError", TypeError),
        ("NNArgumentError", ValueError),
        ("EnvArgumentError", ValueError),
        ("MemoryStatsError", ValueError),
        ("SequenceTooLongError", ValueError),
        ("ScriptNotFoundError", FileNotFoundError),
    ],
)
def test_argument_errors_are_also_the_builtin_callers_catch(
    name: str, builtin: type[Exception]
) -> None:
    assert issubclass(getattr(errors, name), builtin)
