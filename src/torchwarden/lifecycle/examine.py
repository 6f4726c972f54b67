"""The exact examination at the end of a scope: census, classification, holders, graphs."""

from __future__ import annotations

import gc
import time
import weakref
from typing import TYPE_CHECKING

import torch

from torchwarden.lifecycle.graph import GraphRetention, graph_retention
from torchwarden.lifecycle.referrers import Holder, find_holders
from torchwarden.lifecycle.report import Leak, ScopeReport, StateTensor
from torchwarden.lifecycle.sites import recorder
from torchwarden.lifecycle.trend import sample
from torchwarden.memory.census import live_tensors, storage_key, storage_nbytes

if TYPE_CHECKING:
    from torchwarden.lifecycle.scope import TensorScope

__all__ = ["examine"]

MAX_EXAMINED = 256  # holder walks beyond this many tensors add little and cost a lot


def _new_tensors(s: TensorScope) -> tuple[list[weakref.ref[torch.Tensor]], set[int], int]:
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
            ref = s._pre.get(id(t))
            if (ref is None or ref() is not t) and id(t) not in s._kept:
                new.append(weakref.ref(t))
        return new, grads, sum(cpu_storages.values())
    finally:
        del post


def _views_old_storage(t: torch.Tensor, s: TensorScope) -> bool:
    key = storage_key(t)
    ref = None if key is None else s._pre_storages.get(key)
    return ref is not None and ref() is not None


def _state(t: torch.Tensor, what: str, holder: str) -> StateTensor:
    return StateTensor(
        what=what,
        holder=holder,
        site=recorder.site(t) or "<unknown>",
        shape=tuple(t.shape),
        nbytes=storage_nbytes(t),
        device=str(t.device),
    )


def _leak(t: torch.Tensor, holder: Holder, graph: GraphRetention) -> Leak:
    return Leak(
        site=recorder.site(t) or "<unknown: not created by a torch call on this thread>",
        holder=holder.path,
        holder_kind=holder.kind,
        shape=tuple(t.shape),
        dtype=str(t.dtype).removeprefix("torch."),
        device=str(t.device),
        nbytes=storage_nbytes(t),
        retains_graph=graph.retains_graph,
        graph_bytes=graph.bytes,
        graph_nodes=graph.nodes,
    )


def _bytes_leaked(leaks: list[tuple[torch.Tensor, Leak, GraphRetention]]) -> int:
    """Storage bytes of the leaked tensors and of their graphs, each storage once."""
    sizes: dict[tuple[str, int], int] = {}
    for t, leak, graph in leaks:
        key = storage_key(t)
        if key is not None:
            sizes[key] = leak.nbytes
        sizes.update(graph.storages)
    return sum(sizes.values())


def _sort_out(
    s: TensorScope, candidates: list[torch.Tensor]
) -> tuple[list[tuple[torch.Tensor, Leak, GraphRetention]], list[StateTensor], int]:
    """Leaks, state held by modules and optimizers, and how many were the block's results."""
    if not candidates:
        return [], [], 0
    holders = find_holders(candidates, exclude=[candidates], enclosing=s._frame)
    leaks: list[tuple[torch.Tensor, Leak, GraphRetention]] = []
    state: list[StateTensor] = []
    results = 0
    graphs = {id(t): graph_retention(t) for t in candidates}
    # torch keeps the Python object of a tensor that C++ still uses (saved for backward):
    # such tensors are part of another tensor's graph, counted there, not leaks of their own.
    # The same goes for the base of a view: it lives on because the view needs its storage.
    covered: set[tuple[str, int] | None] = {key for g in graphs.values() for key, _ in g.storages}
    covered.update(key for g in graphs.values() for key in g.leaf_storages)
    covered.update(storage_key(t) for t in candidates if holders[id(t)].kind != "unknown")
    for t in candidates:
        holder, graph = holders[id(t)], graphs[id(t)]
        if holder.kind == "state":
            state.append(_state(t, "state", holder.path))
        elif holder.kind == "unknown" and storage_key(t) in covered:
            results += 1
        elif holder.frame_binding is not None and not graph.retains_graph:
            results += 1  # the block's own result, bound to a name where the block ran
        else:
            leaks.append((t, _leak(t, holder, graph), graph))
    return leaks, state, results


def examine(s: TensorScope, exception: str | None) -> ScopeReport:
    """Compare the heap with the snapshot taken at entry; classify what is new and alive."""
    after = sample()
    refs, grads, cpu_bytes = _new_tensors(s)
    if refs:
        gc.collect(1)  # young reference cycles (tracebacks, closures) are garbage, not leaks
    candidates: list[torch.Tensor] = []
    state: list[StateTensor] = []
    outputs = len(s._kept)
    for ref in refs:
        t = ref()
        if t is None:
            continue
        if isinstance(t, torch.nn.Parameter):
            state.append(_state(t, "parameter", "module parameter"))
        elif id(t) in grads:
            state.append(_state(t, "grad", "parameter .grad"))
        elif _views_old_storage(t, s):
            outputs += 1  # a view of a tensor that existed before pins no new memory
        elif len(candidates) < MAX_EXAMINED:
            candidates.append(t)
    del refs
    leaks, held_state, results = _sort_out(s, candidates)
    del candidates
    return ScopeReport(
        name=str(s.name),
        mode="exact",
        leaks=[leak for _, leak, _ in leaks],
        state=state + held_state,
        outputs=outputs + results,
        samples=(s._before, after),
        tensor_bytes_after=cpu_bytes,
        duration_s=time.perf_counter() - s._t0,
        bytes_leaked=_bytes_leaked(leaks),
        exception=exception,
    )
