"""A leak as a :class:`~torchwarden.findings.LeakFinding`: its message, its fix, its sightings.

This module owns the words of a leak. The finding's fields are the data (holder,
site, bytes, graph, the steps it was seen at); :func:`leak_message` renders them,
and :func:`sighted` records each sighting as data and renders it again, so
nothing ever parses a message back.
"""

from __future__ import annotations

from torchwarden.findings import LeakFinding
from torchwarden.frames import Site
from torchwarden.lifecycle.arrays import ARRAY_NOTE
from torchwarden.lifecycle.graph import GraphRetention
from torchwarden.units import format_bytes

__all__ = ["leak_finding", "leak_fix", "leak_message", "sighted"]

_DROP = (
    "drop it from {holder} when done, or store a detached copy (t.detach(), t.item() for a scalar)"
)
_FIXES = {
    "global": _DROP,
    "module": _DROP,
    "local": "the variable outlives the block: `del` it, or keep it on purpose with scope.keep(t)",
    "closure": "the function captures the tensor; pass it as an argument or clear the captured variable",
    "default": "a mutable default argument lives as long as the function: default to None and create the container inside",
    "generator": "the suspended generator keeps its locals: exhaust it, call .close(), or drop the generator",
    "ipython": "IPython's output cache keeps every displayed result: end the cell with `;`, or run %reset -f out",
    "unknown": "no Python object holds it; look for autograd graphs, hooks or C++ caches that still use it",
}
_ARRAY_FIX = (
    "the numpy array shares the tensor's memory and keeps all of it alive: drop it from "
    "{holder} when done, or keep only what you need (t.item() for a scalar, a summary "
    "such as arr.mean(), or the last few in collections.deque(maxlen=N))"
)
_GRAPH_FIX = (
    "it also keeps its autograd graph ({graph}) alive: store t.detach(), "
    "or compute it under torch.no_grad() when it is never backpropagated"
)
_SCALAR_GRAPH_FIX = (
    "it also keeps its autograd graph ({graph}) alive: keep `loss.item()` after backward(), "
    "or compute it under torch.no_grad() when it is never backpropagated"
)


_BACKPROPAGATED = "keep `loss.item()` (a Python float) after backward() instead of the tensor"


def leak_message(f: LeakFinding) -> str:
    """What leaked, where it was made, who holds it, and how the set grew."""
    graph = f", keeping {format_bytes(f.graph_bytes)} of autograd graph" if f.retains_graph else ""
    shape = "x".join(map(str, f.shape)) or "scalar"
    via = f" (via {f.library_site})" if f.library_site else ""
    if f.storage_site:
        via += f", a view of storage allocated at {f.storage_site}"
    site = f.site or "a line torchwarden did not see (made between examinations)"
    if f.growth_per_step is None:
        if len(f.seen_at_steps) > 1:
            graph += f"; found again at steps {', '.join(map(str, f.seen_at_steps))}: it grows"
        return (
            f"{shape} {f.dtype} tensor ({format_bytes(f.nbytes)} on {f.device}) created at "
            f"{site}{via} is still held by {f.holder}{graph}"
        )
    steps = ", ".join(map(str, f.seen_at_steps))
    return (
        f"{f.holder} keeps growing: {f.count} {shape} {f.dtype} tensor(s) on {f.device}, "
        f"{format_bytes(f.nbytes)}{graph} in all, created at {site}{via}; "
        f"+{_per_step(f.growth_per_step)} a step since step {f.first_step} "
        f"(examined at steps {steps})"
    )


def _per_step(nbytes: float) -> str:
    return format_bytes(round(nbytes)) if nbytes >= 1 else f"{nbytes:.2f} B"


def leak_fix(f: LeakFinding) -> str:
    """What to change, by the kind of holder; the graph first when it is the larger cost."""
    path, array, _ = f.holder.partition(f" ({ARRAY_NOTE})")
    text = _ARRAY_FIX if array else _FIXES.get(f.holder_kind, _DROP)
    fix = text.format(holder=path)
    if f.retains_graph:
        text = _GRAPH_FIX if f.shape else _SCALAR_GRAPH_FIX
        fix = text.format(graph=format_bytes(f.graph_bytes)) + "; " + fix
    elif f.graph_nodes and not f.shape:
        fix = _BACKPROPAGATED + "; " + fix  # a loss after backward(): its number is what is wanted
    return fix[0].upper() + fix[1:] + "."


def leak_finding(
    *,
    site: Site,
    holder: str,
    holder_kind: str,
    shape: tuple[int, ...],
    dtype: str,
    device: str,
    nbytes: int,
    graph: GraphRetention,
    storage_site: str | None = None,
) -> LeakFinding:
    """A finding for one leaked tensor, with the autograd graph it keeps alive."""
    draft = LeakFinding(
        message="",
        holder=holder,
        holder_kind=holder_kind,
        site=site.user,
        library_site=site.library,
        storage_site=storage_site if storage_site != site.user else None,
        nbytes=nbytes,
        device=device,
        shape=shape,
        dtype=dtype,
        retains_graph=graph.retains_graph,
        graph_bytes=graph.bytes,
        graph_nodes=graph.nodes,
    )
    return draft.replace(message=leak_message(draft), fix=leak_fix(draft))


def sighted(f: LeakFinding, step: int, tensors: int = 1) -> LeakFinding:
    """``f`` with ``tensors`` more of its group found at ``step`` (each step listed once)."""
    steps = f.seen_at_steps if step in f.seen_at_steps else (*f.seen_at_steps, step)
    seen = f.replace(seen_at_steps=steps, count=f.count + tensors)
    return seen.replace(message=leak_message(seen))
