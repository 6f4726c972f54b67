"""``%tw release``: drop what the user names, collect, and measure what came back.

A name is one of the kernel's handles on memory: a variable (``outputs``), an output
cache entry (``Out[7]``), the whole cache (``Out``), ``_``/``__``/``___``, or the saved
traceback (``traceback``). Nothing is dropped unless every name is understood.
The bytes reported are measured, not estimated: on CUDA the allocator's counters
before and after (allocated, and reserved memory returned to the device by
``empty_cache``); on the CPU, storage bytes (autograd graphs included) that were
alive before and are not after.
"""

from __future__ import annotations

import gc
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from torchwarden.errors import NotebookArgumentError
from torchwarden.lifecycle.graph import graph_retention
from torchwarden.memory.census import live_tensors, storage_key, storage_nbytes
from torchwarden.memory.counters import allocator_triples
from torchwarden.units import format_bytes

__all__ = ["DEFAULT_RELEASE", "Released", "release"]

DEFAULT_RELEASE = ("Out", "traceback")  # what nobody chose to keep: caches, not variables
_OUT_ENTRY = re.compile(r"^Out\[(\d+)\]$")
_UNDERS = ("_", "__", "___")
_TRACEBACK_NAMES = ("traceback", "tb")
_SAVED_ERROR = ("last_type", "last_value", "last_traceback", "last_exc")
_FORMATTERS = ("InteractiveTB", "SyntaxTB")
StorageKey = tuple[str, int]


@dataclass(frozen=True)
class Released:
    """What one release dropped and the bytes that came back, per device."""

    names: tuple[str, ...]
    cpu_bytes: int  # CPU storage bytes alive before and gone after
    cuda: tuple[tuple[str, int, int], ...]  # (device, allocated freed, reserved returned)

    def line(self) -> str:
        parts = [f"cpu {format_bytes(self.cpu_bytes)} of tensor storage"]
        parts += [
            f"{dev} {format_bytes(freed)} allocated, {format_bytes(returned)} returned to the device"
            for dev, freed, returned in self.cuda
        ]
        return f"torchwarden: released {', '.join(self.names)}: " + "; ".join(parts)


def _storages() -> dict[StorageKey, int]:
    """Every storage Python can reach, with those saved in autograd graphs."""
    found: dict[StorageKey, int] = {}
    for t in live_tensors():
        key = storage_key(t)
        if key is not None:
            found.setdefault(key, storage_nbytes(t))
        if t.grad_fn is not None:
            found.update(graph_retention(t).storages)
    return found


def _check(user_ns: dict[str, Any], name: str) -> None:
    if name in ("Out", *_UNDERS, *_TRACEBACK_NAMES) or _OUT_ENTRY.match(name):
        return
    if name not in user_ns:
        raise NotebookArgumentError(
            f"%tw release: no name {name!r} in this kernel; give a variable, Out, Out[N], "
            "_, __, ___ or traceback (%tw lists what holds tensors)"
        )


def _forget_output(shell: Any, obj: Any) -> None:
    for under in _UNDERS:  # IPython keeps these on its display hook too
        if shell.user_ns.get(under) is obj:
            shell.user_ns[under] = ""
            if under in shell.user_ns_hidden:
                shell.user_ns_hidden[under] = ""
        if getattr(shell.displayhook, under, None) is obj:
            setattr(shell.displayhook, under, "")


def _drop_traceback(shell: Any) -> None:
    for attr in _SAVED_ERROR:
        if hasattr(sys, attr):
            setattr(sys, attr, None)
    for formatter in _FORMATTERS:  # each keeps the last traceback for %debug
        handler: Any = getattr(shell, formatter, None)
        if getattr(handler, "tb", None) is not None:
            handler.tb = None


def _drop(shell: Any, name: str) -> None:
    ns = shell.user_ns
    entry = _OUT_ENTRY.match(name)
    if name == "Out":
        if ns.get("Out"):
            shell.displayhook.flush()  # Out, _oh, _N and the display hook's _, __, ___
        for under in _UNDERS:  # flush() leaves the hidden copies of _, __, ___
            if under in shell.user_ns_hidden:
                shell.user_ns_hidden[under] = ns.get(under, "")
    elif entry is not None:
        n = int(entry.group(1))
        obj = ns.get("Out", {}).pop(n, None)
        ns.pop(f"_{n}", None)
        shell.user_ns_hidden.pop(f"_{n}", None)
        _forget_output(shell, obj)
    elif name in _UNDERS:
        _forget_output(shell, ns.get(name))
    elif name in _TRACEBACK_NAMES:
        _drop_traceback(shell)
    else:
        obj = ns.pop(name)
        if shell.user_ns_hidden.get(name) is obj:  # IPython's own copy (_7, _i7, ...)
            del shell.user_ns_hidden[name]


def _cuda_counters() -> list[tuple[int, int]]:
    return [(allocated, reserved) for allocated, reserved, _ in allocator_triples()]


def release(shell: Any, names: Sequence[str] = DEFAULT_RELEASE) -> Released:
    """Drop ``names`` from ``shell``, collect, empty the CUDA cache; measure what came back."""
    names = tuple(names) or DEFAULT_RELEASE
    for name in names:
        _check(shell.user_ns, name)
    gc.collect()  # what was garbage already is not this release's doing
    before, cuda_before = _storages(), _cuda_counters()
    for name in names:
        _drop(shell, name)
    gc.collect()
    if torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        torch.cuda.empty_cache()
    after, cuda_after = _storages(), _cuda_counters()
    cpu = sum(n for key, n in before.items() if key[0] == "cpu" and key not in after)
    cuda = tuple(
        (f"cuda:{i}", a0 - a1, r0 - r1)
        for i, ((a0, r0), (a1, r1)) in enumerate(zip(cuda_before, cuda_after))
    )
    return Released(names, cpu, cuda)
