"""Contracts read from what the user already wrote: type hints, jaxtyping included.

jaxtyping stays optional. Its annotations (``Float[Tensor, "batch seq dim"]``) are
classes that carry their dimension string (``dim_str``) and dtype names (``dtypes``,
or a sentinel for "any"); they are read here by those attributes, and the dimension
string goes through the same parser as the plain string syntax, so the checks, the
messages and the behaviour under ``torch.compile`` are torchwarden's own and
jaxtyping's runtime checker is never called.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from torchwarden.contracts.spec import TensorSpec, parse_dims, parse_spec
from torchwarden.contracts.tree import MappingSpec, Node, OptionalSpec, RecordSpec, SequenceSpec
from torchwarden.errors import ContractSpecError

__all__ = ["allows_none", "hints_of", "is_jaxtyping", "node_of"]

_ANY_TENSOR = TensorSpec(None, None, "Tensor")


def is_jaxtyping(annotation: Any) -> bool:
    """A jaxtyping array annotation such as ``Float[Tensor, "b n"]``."""
    return (
        isinstance(annotation, type)
        and isinstance(getattr(annotation, "dim_str", None), str)
        and hasattr(annotation, "dtypes")
        and hasattr(annotation, "index_variadic")
    )


def _from_jaxtyping(annotation: Any) -> TensorSpec:
    dtypes = annotation.dtypes
    names = None
    if isinstance(dtypes, (tuple, list)):
        # a regex pattern in a custom dtype class is kept as its text
        names = frozenset(d if isinstance(d, str) else d.pattern for d in dtypes)
    family = getattr(getattr(annotation, "dtype", None), "__name__", "") or "any"
    text = f"{family}[{annotation.dim_str}]"
    return TensorSpec(names, parse_dims(annotation.dim_str), text, family)


def node_of(annotation: Any) -> Node:
    """The contract an annotation (or a plain string spec) states; None if none."""
    if annotation is None or annotation is type(None):
        return None
    if isinstance(annotation, (TensorSpec, RecordSpec, SequenceSpec, MappingSpec, OptionalSpec)):
        return annotation
    if isinstance(annotation, str):
        return parse_spec(annotation)
    if is_jaxtyping(annotation):
        return _from_jaxtyping(annotation)
    if annotation is torch.Tensor or (
        isinstance(annotation, type) and issubclass(annotation, torch.Tensor)
    ):
        return _ANY_TENSOR
    return _generic(annotation)


def _generic(annotation: Any) -> Node:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        # `Annotated[Tensor, "float[batch dim]"]`: the string syntax where jaxtyping is absent
        specs = [m for m in annotation.__metadata__ if isinstance(m, (str, TensorSpec))]
        return node_of(specs[0] if specs else args[0])
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(rest) < len(args):
            inner = node_of(rest[0])
            return None if inner is None else OptionalSpec(inner)
        return None  # a union of several contracts: not checked
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _sequence(None, node_of(args[0]))
        return _sequence(tuple(node_of(a) for a in args), None)
    if origin in (list, Sequence):
        return _sequence(None, node_of(args[0])) if args else None
    if origin in (dict, Mapping):
        value = node_of(args[1]) if len(args) == 2 else None
        return None if value is None else MappingSpec(value)
    if isinstance(annotation, type):
        return _record(annotation)
    return None


def allows_none(annotation: Any) -> bool:
    """``X | None`` or ``Optional[X]``."""
    origin = typing.get_origin(annotation)
    return origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


def _sequence(items: tuple[Node, ...] | None, each: Node) -> Node:
    if each is None and (items is None or all(i is None for i in items)):
        return None
    return SequenceSpec(items, each)


def _record(cls: type) -> Node:
    """A NamedTuple or dataclass type whose fields carry contracts."""
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        names: tuple[str, ...] = cls._fields
    elif dataclasses.is_dataclass(cls):
        names = tuple(f.name for f in dataclasses.fields(cls))
    else:
        return None
    hints = _type_hints(cls, cls.__qualname__)
    fields = tuple((name, node_of(hints.get(name))) for name in names)
    if all(node is None for _, node in fields):
        return None
    return RecordSpec(cls, fields)


def _type_hints(obj: Any, what: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except NameError as e:
        raise ContractSpecError(
            f"cannot read the annotations of {what}: {e}. Import the names used in its "
            "annotations at module level, or give the contract as strings: "
            "@contract(x='float[batch dim]')"
        ) from None


def hints_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """The resolved annotations of ``fn`` (``from __future__ import annotations`` too)."""
    return _type_hints(fn, getattr(fn, "__qualname__", repr(fn)))
