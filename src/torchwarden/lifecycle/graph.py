"""What a tensor's autograd graph keeps alive.

A tensor with a ``grad_fn`` keeps its whole backward graph: every node, and every
tensor a node saved for backward (activations, mostly). Those saved tensors often have
no Python object at all, so a heap census cannot see them; this walk can.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from torchwarden.errors import ScopeArgumentError
from torchwarden.memory.census import storage_key, storage_nbytes

__all__ = ["GraphRetention", "graph_retention"]

_saved_names: dict[type, tuple[str, ...]] = {}


@dataclass(frozen=True)
class GraphRetention:
    """The autograd graph behind one tensor.

    ``bytes`` counts each saved storage once, leaving out ``nn.Parameter`` s and views
    of the leaves the graph accumulates into (they live on without the graph);
    ``by_device`` splits it. ``leaf_storages`` names the leaf
    tensors the graph accumulates gradients into (kept alive, but usually the user's).
    """

    nodes: int = 0
    saved_tensors: int = 0
    bytes: int = 0
    by_device: dict[str, int] = field(default_factory=dict)
    storages: tuple[tuple[tuple[str, int], int], ...] = field(default=(), repr=False)
    leaf_storages: frozenset[tuple[str, int]] = field(default=frozenset(), repr=False)

    @property
    def retains_graph(self) -> bool:
        """True when freeing the tensor would free saved tensors (the graph is still live)."""
        return self.saved_tensors > 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("storages")
        d.pop("leaf_storages")
        return d


def _saved_attributes(node: Any) -> tuple[str, ...]:
    names = _saved_names.get(type(node))
    if names is None:
        names = tuple(n for n in dir(node) if n.startswith("_saved_"))
        _saved_names[type(node)] = names
    return names


def _saved_values(node: Any) -> list[Any]:
    values: list[Any] = []
    for name in _saved_attributes(node):
        with contextlib.suppress(RuntimeError):  # freed by backward(): pins nothing any more
            values.append(getattr(node, name))
    # custom autograd.Function (compiled graphs are one); reading it after backward raises
    with contextlib.suppress(RuntimeError, AttributeError):
        values.extend(node.saved_tensors)
    return values


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [v for v in value if isinstance(v, torch.Tensor)]
    return []


def graph_retention(tensor: torch.Tensor) -> GraphRetention:
    """Nodes and saved-tensor bytes pinned by ``tensor``'s autograd graph.

    >>> import torch
    >>> w = torch.nn.Parameter(torch.randn(64, 64))
    >>> loss = (torch.randn(8, 64) @ w).relu().sum()
    >>> graph_retention(loss).retains_graph
    True
    >>> loss.backward(); graph_retention(loss).bytes
    0
    """
    if not isinstance(tensor, torch.Tensor):
        raise ScopeArgumentError(f"graph_retention() takes a tensor, got {type(tensor).__name__}")
    root = tensor.grad_fn
    if root is None:
        return GraphRetention()
    seen: dict[int, Any] = {}  # id -> node; holding nodes keeps ids unique during the walk
    stack: list[Any] = [root]
    saved = 0
    storages: dict[tuple[str, int], int] = {}
    leaves: set[tuple[str, int]] = set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen[id(node)] = node
        variable = getattr(node, "variable", None)  # AccumulateGrad keeps its leaf alive
        if isinstance(variable, torch.Tensor):
            leaf_key = storage_key(variable)
            if leaf_key is not None:
                leaves.add(leaf_key)
        for value in _saved_values(node):
            for t in _tensors(value):
                if isinstance(t, torch.nn.Parameter):
                    continue  # parameters outlive the graph
                key = storage_key(t)
                if key is None:
                    continue
                saved += 1
                storages.setdefault(key, storage_nbytes(t))
        stack.extend(fn for fn, _ in node.next_functions if fn is not None)
    for key in leaves:  # a view of a parameter saved for backward (addmm's `weight.t()`)
        storages.pop(key, None)
    by_device: dict[str, int] = {}
    for (device, _), nbytes in storages.items():
        by_device[device] = by_device.get(device, 0) + nbytes
    return GraphRetention(
        nodes=len(seen),
        saved_tensors=saved,
        bytes=sum(storages.values()),
        by_device=by_device,
        storages=tuple(storages.items()),
        leaf_storages=frozenset(leaves),
    )
