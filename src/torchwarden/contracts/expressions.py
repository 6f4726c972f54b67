"""Symbolic dimensions: ``seq*2``, ``n-1``, ``heads*head_dim``.

A small arithmetic language over bound dimension sizes (integers, names, ``+ - * //
%``, parentheses, ``min``/``max``), read with :mod:`ast` and evaluated by walking the
tree: a contract never runs ``eval`` on text.
"""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Callable, Mapping
from typing import Any

from torchwarden.errors import ContractSpecError

__all__ = ["evaluate", "names_in"]

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Div: operator.floordiv,  # sizes are integers: `n/2` means `n//2`
    ast.Mod: operator.mod,
}
_CALLS: dict[str, Callable[..., Any]] = {"min": min, "max": max}


@functools.lru_cache(maxsize=512)
def _tree(text: str) -> ast.expr:
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise ContractSpecError(
            f"cannot read the dimension expression {text!r}: use sizes' names, integers, "
            "+ - * // % and parentheses, e.g. 'seq*2'"
        ) from None
    for node in ast.walk(tree):
        bad_call = isinstance(node, ast.Call) and getattr(node.func, "id", None) not in _CALLS
        if bad_call or not isinstance(node, _ALLOWED):
            raise ContractSpecError(
                f"dimension expression {text!r}: {type(node).__name__} is not allowed; "
                "use names, integers, + - * // % and min/max"
            )
    return tree


@functools.lru_cache(maxsize=512)
def names_in(text: str) -> frozenset[str]:
    """The dimension names an expression reads (its function names excluded)."""
    tree = _tree(text)
    called = {n.func for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n not in called)


def evaluate(text: str, sizes: Mapping[str, int]) -> int:
    """The value of ``text`` given the bound ``sizes`` (every name must be bound)."""
    return int(_eval(_tree(text), sizes))


def _eval(node: ast.expr, sizes: Mapping[str, int]) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.Name):
        return sizes[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_eval(node.left, sizes), _eval(node.right, sizes))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand, sizes)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CALLS:
        return _CALLS[node.func.id](*(_eval(a, sizes) for a in node.args))
    raise ContractSpecError(f"dimension expression: cannot evaluate {ast.dump(node)}")


_ALLOWED = (
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.BinOp,
    ast.UnaryOp,
    ast.USub,
    ast.Call,
    *_BINARY,
)
