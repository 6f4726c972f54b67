"""The exact examination at the end of a scope: census, classification, holders, graphs.

It compares the heap with the :class:`~torchwarden.lifecycle.snapshot.ScopeSnapshot`
the scope took when it opened, and knows nothing else of the scope.
"""

from __future__ import annotations

import dataclasses
import gc
import re
import time
import weakref
from collections.abc import Collection
from typing import Any

import torch

from torchwarden.findings import LeakFinding
from torchwarden.frames import Site
from torchwarden.lifecycle.graph import GraphRetention, graph_retention
from torchwarden.lifecycle.holder import RUNNING, Holder
from torchwarden.lifecycle.leaks import leak_finding
from torchwarden.lifecycle.referrers import find_holders
from torchwarden.lifecycle.report import ScopeReport, StateTensor
from torchwarden.lifecycle.sites import recorder
from torchwarden.lifecycle.snapshot import ScopeSnapshot
from torchwarden.lifecycle.trend import sample
from torchwarden.memory.census import live_tensors, storage_key, storage_nbytes

__all__ = ["examine"]

MAX_EXAMINED = 256  # holder walks beyond this many tensors add little and cost a lot
_NOT_RECORDED = Site("<unknown: not created by a torch call on this thread>")
Examined = tuple[torch.Tensor, LeakFinding, GraphRetention]
Extents = dict[int, int]  # id(leaked tensor) -> entries of the containers holding it


def _new_tensors(
    snap: ScopeSnapshot, kept: Collection[int]
) -> tuple[list[weakref.ref[torch.Tensor]], set[int], int]:
    """Weak refs to tensors created in the block, ids of parameter grads, CPU tensor bytes."""
    post = live_tensors()
    try:
        grads: set[int] = set()
        new: list[weakref.ref[torch.Tensor]] = []
        cpu_storages: dict[tuple[str, int], int] = {}
        for t in post:
            key = storage_key(t)
            if key is not None and key[0] == "cpu":
                cpu_storages.setdefault(key, storage_nbytes(t))
            if t.is_leaf and t.requires_grad and t.grad is not None:
                grads.add(id(t.grad))
            if not snap.existed(t) and id(t) not in kept:
                new.append(weakref.ref(t))
        return new, grads, sum(cpu_storages.values())
    finally:
        del post


def _state(t: torch.Tensor, what: str, holder: str) -> StateTensor:
    return StateTensor(
        what=what,
        holder=holder,
        site=recorder.site(t) or "<unknown>",
        shape=tuple(t.shape),
        nbytes=storage_nbytes(t),
        device=str(t.device),
    )


def _fresh(snap: ScopeSnapshot, graph: GraphRetention) -> GraphRetention:
    """The graph without storages alive before the scope: dropping the holder frees none."""
    fresh = tuple((key, n) for key, n in graph.storages if not snap.has_storage(key))
    if len(fresh) == len(graph.storages):
        return graph
    by_device: dict[str, int] = {}
    for (device, _), n in fresh:
        by_device[device] = by_device.get(device, 0) + n
    return dataclasses.replace(
        graph, bytes=sum(n for _, n in fresh), by_device=by_device, storages=fresh
    )


def _reading_order(examined: Examined) -> tuple[int, list[Any]]:
    """Largest first; then by holder as a person reads it (``h[2]`` before ``h[10]``)."""
    _, leak, _ = examined
    natural = [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", leak.holder)]
    return -(leak.nbytes + (leak.graph_bytes or 0)), natural


def _storage_site(t: torch.Tensor) -> str | None:
    """For a view or an alias, the user's line that made the storage it shares."""
    base = t._base if t._is_view() else None
    if base is not None:
        return recorder.site(base)
    origin = recorder.origin(t)
    return origin.user if origin is not None else None


def _leak(t: torch.Tensor, holder: Holder, graph: GraphRetention) -> LeakFinding:
    return leak_finding(
        storage_site=_storage_site(t),
        site=recorder.where(t) or _NOT_RECORDED,
        holder=holder.path,
        holder_kind=holder.kind,
        shape=tuple(t.shape),
        dtype=str(t.dtype).removeprefix("torch."),
        device=str(t.device),
        nbytes=storage_nbytes(t),
        graph=graph,
    )


def _bytes_leaked(leaks: list[Examined]) -> int:
    """Storage bytes of the leaked tensors and of their graphs, each storage once."""
    sizes: dict[tuple[str, int], int] = {}
    for t, leak, graph in leaks:
        key = storage_key(t)
        if key is not None:
            sizes[key] = leak.nbytes
        sizes.update(graph.storages)
    return sum(sizes.values())


def _sort_out(
    snap: ScopeSnapshot, candidates: list[torch.Tensor], outputs: Collection[torch.Tensor] = ()
) -> tuple[list[Examined], list[StateTensor], int, Extents]:
    """Leaks, state held by modules and optimizers, how many were results, holder extents.

    ``outputs`` are the block's kept results: what their graphs save is theirs, not a leak.
    """
    if not candidates:
        return [], [], 0, {}
    holders = find_holders(candidates, exclude=[candidates], enclosing=snap.enclosing)
    leaks: list[Examined] = []
    state: list[StateTensor] = []
    results = 0
    graphs = {id(t): _fresh(snap, graph_retention(t)) for t in candidates}
    # torch keeps the Python object of a tensor that C++ still uses (saved for backward):
    # such tensors are part of another tensor's graph, counted there, not leaks of their own.
    # The same goes for the base of a view: it lives on because the view needs its storage.
    covered: set[tuple[str, int] | None] = {key for g in graphs.values() for key, _ in g.storages}
    covered.update(key for g in graphs.values() for key in g.leaf_storages)
    for out in outputs:
        kept_graph = graph_retention(out)
        covered.update(key for key, _ in kept_graph.storages)
        covered.update(kept_graph.leaf_storages)
    covered.update(storage_key(t) for t in candidates if holders[id(t)].kind != "unknown")
    for t in candidates:
        holder, graph = holders[id(t)], graphs[id(t)]
        if holder.kind == "state":
            state.append(_state(t, "state", holder.path))
        elif holder.kind == "unknown" and storage_key(t) in covered:
            results += 1
        elif holder.kind == "internal" or (
            holder.frame_binding is not None
            and not (graph.retains_graph and snap.enclosing is RUNNING)
        ):
            # The block's own result, bound to a name where the block ran, or torch's own
            # bookkeeping (compiled graphs' constants). A running loop's name that keeps a
            # graph stays a candidate: the step monitor's growth rule tells
            # `total = total + loss` (its graph grows) from `loss = ...` (it does not).
            results += 1
        else:
            leaks.append((t, _leak(t, holder, graph), graph))
    extents = {id(t): holders[id(t)].extent for t, _, _ in leaks}
    return leaks, state, results, extents


def examine(
    snap: ScopeSnapshot,
    *,
    kept: Collection[int] = (),
    exception: str | None = None,
    carried: Collection[torch.Tensor] = (),
    kept_tensors: Collection[torch.Tensor] = (),
) -> ScopeReport:
    """Compare the heap with ``snap``; classify what is new and alive.

    ``kept`` holds the ids of tensors the block meant to hand out (``scope.keep``);
    ``exception`` names the exception that ended the block, if one did; ``carried``
    are tensors an earlier examination reported, examined again whatever their age
    (a set that grows keeps its old members: see ``growth.py``); ``kept_tensors`` are the
    kept results themselves, whose graphs' saved tensors are theirs, not leaks.
    """
    after = sample()
    refs, grads, cpu_bytes = _new_tensors(snap, kept)
    if refs:
        gc.collect(1)  # young reference cycles (tracebacks, closures) are garbage, not leaks
    candidates: list[torch.Tensor] = []
    state: list[StateTensor] = []
    outputs = len(kept)
    for ref in refs:
        t = ref()
        if t is None:
            continue
        if isinstance(t, torch.nn.Parameter):
            state.append(_state(t, "parameter", "module parameter"))
        elif id(t) in grads:
            state.append(_state(t, "grad", "parameter .grad"))
        elif snap.shares_old_storage(t):
            outputs += 1  # a view of a tensor that existed before pins no new memory
        elif len(candidates) < MAX_EXAMINED:
            candidates.append(t)
    del refs
    seen = {id(t) for t in candidates}
    candidates += [t for t in carried if id(t) not in seen][: max(0, MAX_EXAMINED - len(seen))]
    leaks, held_state, results, extents = _sort_out(snap, candidates, kept_tensors)
    del candidates
    leaks.sort(key=_reading_order)
    return ScopeReport(
        name=snap.name,
        mode="exact",
        leaks=[leak for _, leak, _ in leaks],
        state=state + held_state,
        outputs=outputs + results,
        samples=(snap.before, after),
        tensor_bytes_after=cpu_bytes,
        duration_s=time.perf_counter() - snap.started,
        bytes_leaked=_bytes_leaked(leaks),
        exception=exception,
        leaked=[(weakref.ref(t), extents.get(id(t), 0)) for t, _, _ in leaks],
    )
