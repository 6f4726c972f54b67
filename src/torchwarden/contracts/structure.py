"""How a value holds tensors: fields, items and keys, each with a readable path.

One walker for the contract checks (which tensors a call passes or returns) and for
other parts of torchwarden that must see a model's results (:func:`tensors_of`:
the scope engine treats every tensor it yields as returned, not leaked). Paths read
as Python would: ``output.logits``, ``output[0]``, ``batch['ids']``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, cast

import torch

__all__ = ["children", "is_record", "tensors_of"]

# Nested containers deeper than this are not walked: outputs are shallow in practice,
# and a cyclic or huge structure must not make a check slow.
_MAX_DEPTH = 6


def is_record(value: Any) -> bool:
    """A NamedTuple or a dataclass instance: a value whose parts have field names."""
    if isinstance(value, tuple):
        return hasattr(value, "_fields")
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def children(value: Any) -> Iterator[tuple[str, Any]]:
    """``(path suffix, child)`` for each part of a record, tuple, list or dict."""
    if is_record(value):
        names = cast(Any, value)._fields if isinstance(value, tuple) else _field_names(value)
        for name in names:
            yield f".{name}", getattr(value, name)
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            yield f"[{i}]", item
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield f"[{key!r}]", item


def _field_names(value: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(value))


def tensors_of(value: Any, path: str = "output") -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor in ``value`` with its path, e.g. ``("output.logits", tensor)``.

    The hook for the lifecycle side: tensors reached this way are a function's results.
    """
    yield from _walk(value, path, 0)


def _walk(value: Any, path: str, depth: int) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        yield path, value
    elif depth < _MAX_DEPTH:
        for suffix, child in children(value):
            yield from _walk(child, path + suffix, depth + 1)
