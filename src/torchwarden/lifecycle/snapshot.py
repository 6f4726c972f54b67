"""What was alive when a scope opened: the evidence its examination compares against.

An open scope takes one :class:`ScopeSnapshot` and hands it to
:func:`~torchwarden.lifecycle.examine.examine` when it closes. Every scope records the
cheap counters and the time; an exact one also takes a heap census, held through weak
references so the snapshot never extends a tensor's life.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import torch

from torchwarden.lifecycle.trend import Sample, sample
from torchwarden.memory.census import live_tensors, storage_key

__all__ = ["ScopeSnapshot", "take_snapshot"]

StorageKey = tuple[str, int]


@dataclass
class ScopeSnapshot:
    """The state of the process when a scope opened.

    ``enclosing`` says where the block's results are bound: a frame (the ``with``
    statement's), ``None`` (they are returned) or ``holder.RUNNING`` (any running frame).
    ``tensors`` and ``storages`` are the census, empty unless ``exact``.
    """

    name: str
    exact: bool
    enclosing: Any
    started: float
    before: Sample
    tensors: dict[int, weakref.ref[torch.Tensor]] = field(default_factory=dict, repr=False)
    storages: dict[StorageKey, weakref.ref[torch.Tensor]] = field(default_factory=dict, repr=False)

    def existed(self, t: torch.Tensor) -> bool:
        """True when ``t`` itself was alive at the snapshot (ids are reused: checked by identity)."""
        ref = self.tensors.get(id(t))
        return ref is not None and ref() is t

    def shares_old_storage(self, t: torch.Tensor) -> bool:
        """True when ``t`` views a storage that was alive at the snapshot and still is."""
        key = storage_key(t)
        ref = None if key is None else self.storages.get(key)
        return ref is not None and ref() is not None

    def has_storage(self, key: StorageKey) -> bool:
        """True when a storage with this identity was alive at the snapshot and still is."""
        ref = self.storages.get(key)
        return ref is not None and ref() is not None

    def release(self) -> None:
        """Drop the census and the frame: the examination is over."""
        self.tensors = {}
        self.storages = {}
        self.enclosing = None


def take_snapshot(name: str, *, exact: bool, enclosing: Any = None) -> ScopeSnapshot:
    """Counters and time now; with ``exact``, a census of every live tensor too."""
    snap = ScopeSnapshot(name, exact, enclosing if exact else None, time.perf_counter(), sample())
    if exact:
        pre = live_tensors()
        snap.tensors = {id(t): weakref.ref(t) for t in pre}
        for t in pre:
            key = storage_key(t)
            if key is not None:
                snap.storages.setdefault(key, weakref.ref(t))
        del pre
    return snap
