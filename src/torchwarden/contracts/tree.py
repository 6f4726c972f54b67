"""What a structured value must look like: records, sequences, mappings, optionals.

A contract for one argument or for the output is a tree whose leaves are
:class:`~torchwarden.contracts.spec.TensorSpec`; ``None`` anywhere means "not
constrained" (its tensors still get the device and finiteness checks).
"""

from __future__ import annotations

from dataclasses import dataclass

from torchwarden.contracts.spec import TensorSpec

__all__ = ["MappingSpec", "Node", "OptionalSpec", "RecordSpec", "SequenceSpec", "describe"]


@dataclass(frozen=True)
class RecordSpec:
    """A NamedTuple or dataclass output, checked field by field."""

    cls: type
    fields: tuple[tuple[str, Node], ...]


@dataclass(frozen=True)
class SequenceSpec:
    """``tuple[A, B]`` (``items``) or ``tuple[A, ...]`` / ``list[A]`` (``each``)."""

    items: tuple[Node, ...] | None = None
    each: Node = None


@dataclass(frozen=True)
class MappingSpec:
    """``dict[str, A]``: every value is an ``A``."""

    value: Node


@dataclass(frozen=True)
class OptionalSpec:
    """``A | None``."""

    inner: Node


Node = TensorSpec | RecordSpec | SequenceSpec | MappingSpec | OptionalSpec | None


def describe(node: Node) -> str:
    """A short text of what ``node`` expects, for messages."""
    if isinstance(node, TensorSpec):
        return node.text
    if isinstance(node, RecordSpec):
        return node.cls.__name__
    if isinstance(node, OptionalSpec):
        return f"{describe(node.inner)} or None"
    if isinstance(node, SequenceSpec):
        if node.items is not None:
            return f"a tuple of {len(node.items)}"
        return "a sequence"
    if isinstance(node, MappingSpec):
        return "a mapping"
    return "anything"
