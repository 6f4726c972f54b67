"""What the kernel already held: tensors and storages, by weak reference.

A holding is new when its tensor was not seen before and its storage was not
either: ``row = outputs[0]`` binds a new tensor object, but pins no new memory.
Ids are reused as soon as an object dies, so every entry is checked by identity.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable

import torch

from torchwarden.memory.census import storage_key

__all__ = ["Seen"]

StorageKey = tuple[str, int]


class Seen:
    """Tensors and storages seen alive, swept of dead entries as it grows."""

    def __init__(self) -> None:
        self._tensors: dict[int, weakref.ref[torch.Tensor]] = {}
        self._storages: dict[StorageKey, weakref.ref[torch.Tensor]] = {}
        self._sweep_at = 1024

    def reset(self, tensors: Iterable[torch.Tensor]) -> None:
        """Forget everything but ``tensors`` (a full census)."""
        self._tensors, self._storages = {}, {}
        self.add(tensors)

    def add(self, tensors: Iterable[torch.Tensor]) -> None:
        for t in tensors:
            ref = weakref.ref(t)
            self._tensors[id(t)] = ref
            key = storage_key(t)
            if key is not None and not self._holds_storage(key):
                self._storages[key] = ref
        if len(self._tensors) > self._sweep_at:
            self._sweep()

    def _holds_storage(self, key: StorageKey) -> bool:
        ref = self._storages.get(key)
        return ref is not None and ref() is not None  # a live tensor keeps its storage

    def _sweep(self) -> None:
        self._tensors = {k: r for k, r in self._tensors.items() if r() is not None}
        self._storages = {k: r for k, r in self._storages.items() if r() is not None}
        self._sweep_at = max(1024, 2 * len(self._tensors))

    def is_new(self, t: torch.Tensor) -> bool:
        """True when neither ``t`` nor its storage was alive when last seen."""
        ref = self._tensors.get(id(t))
        if ref is not None and ref() is t:
            return False
        key = storage_key(t)
        return key is None or not self._holds_storage(key)
