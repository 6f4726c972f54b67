"""What holds each of a set of live tensors, with their sizes and graphs.

A scope asks "what did this block leave behind"; an interactive session asks "what
does this process hold now". Both are the same walk: :func:`holdings` takes tensors
from a census (``memory.census.live_tensors``), finds the path that holds each one
(``global outputs``, ``IPython Out[7]``, ``closure of f (variable x)``) and sizes its
storage and its autograd graph. Tensors that live only because another holding needs
them (saved for backward, the base of a held view) are left out: they are counted
with the holding that keeps them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from torchwarden.frames import Site
from torchwarden.lifecycle.graph import GraphRetention, graph_retention
from torchwarden.lifecycle.holder import Holder
from torchwarden.lifecycle.referrers import find_holders
from torchwarden.lifecycle.sites import recorder
from torchwarden.memory.census import live_tensors, storage_key, storage_nbytes

__all__ = ["MAX_WALKED", "Holding", "holdings", "recorded_site"]

MAX_WALKED = 512  # holder walks beyond this many tensors cost seconds and add little
StorageKey = tuple[str, int]
_GRAD = Holder("parameter .grad", "state")


@dataclass(frozen=True)
class Holding:
    """One live tensor, what holds it and what it pins; ``ref`` is weak, extending no life."""

    holder: Holder
    site: Site | None
    shape: tuple[int, ...]
    dtype: str
    device: str
    storage: StorageKey | None
    nbytes: int  # the whole storage: a small view of a large tensor pins all of it
    graph: GraphRetention
    ref: weakref.ref[torch.Tensor] = field(repr=False, compare=False)


def recorded_site(t: torch.Tensor) -> Site | None:
    """Where ``t`` was made, if a torch call made it while creation sites were recorded."""
    return recorder.where(t)


def _holding(t: torch.Tensor, holder: Holder, graph: GraphRetention, site: Site | None) -> Holding:
    return Holding(
        holder=holder,
        site=site,
        shape=tuple(t.shape),
        dtype=str(t.dtype).removeprefix("torch."),
        device=str(t.device),
        storage=storage_key(t),
        nbytes=storage_nbytes(t),
        graph=graph,
        ref=weakref.ref(t),
    )


def _gradients(targets: list[torch.Tensor]) -> dict[int, Holder]:
    """Holders of targets that are a parameter's ``.grad`` (kept in C++, out of gc's sight)."""
    ids = {id(t) for t in targets}
    grads = [t.grad for t in live_tensors() if t.is_leaf and t.requires_grad and t.grad is not None]
    return {id(g): _GRAD for g in grads if id(g) in ids}


def holdings(
    tensors: list[torch.Tensor],
    *,
    where: Callable[[torch.Tensor], Site | None] = recorded_site,
    named: Mapping[int, Holder] | None = None,
) -> list[Holding]:
    """The :class:`Holding` of each tensor in ``tensors`` (at most :data:`MAX_WALKED`).

    ``where`` names a tensor's creation site; ``named`` gives holders the caller
    already knows (``id(tensor) -> Holder``), so that only the others are walked
    (a walk scans the heap once a level: tens of milliseconds). Collect garbage before the census that
    found ``tensors``: a dead reference cycle (a traceback, a closure) holds nothing,
    yet the list passed here keeps its tensors alive, with no holder to name.
    """
    targets = tensors[:MAX_WALKED]
    if not targets:
        return []
    named = named or {}
    rest = [t for t in targets if id(t) not in named]
    found = {**find_holders(rest, exclude=[tensors, targets, rest]), **named} if rest else named
    if any(h.kind == "unknown" for h in found.values()):
        found = {**found, **_gradients(targets)}
    graphs = {id(t): graph_retention(t) for t in targets}
    # saved activations and view bases live because another holding needs them
    covered: set[StorageKey | None] = {key for g in graphs.values() for key, _ in g.storages}
    covered.update(key for g in graphs.values() for key in g.leaf_storages)
    covered.update(storage_key(t) for t in targets if found[id(t)].kind != "unknown")
    out: list[Holding] = []
    for t in targets:
        holder = found[id(t)]
        if holder.kind == "unknown" and storage_key(t) in covered:
            continue
        out.append(_holding(t, holder, graphs[id(t)], where(t)))
    return out
