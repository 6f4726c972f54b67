"""numpy arrays that keep a tensor alive: ``kept.append(x.numpy())``.

``Tensor.numpy()`` returns an array that shares the tensor's memory and keeps it alive
through its ``base``: a tensor object that torch makes inside the call, which the
user's code never sees. numpy arrays are not tracked by the garbage collector, so the
referrer walk cannot find the array from that hidden tensor; without help the tensor
reads as "held from C++". While creation sites are recorded, each array ``.numpy()``
makes is noted here by the tensor it keeps, so the walk can step from the tensor to its
array and on to the user's container. Entries hold weak references and leave with their
array: the registry costs one entry per live array, never more.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

__all__ = ["ARRAY_NOTE", "ArrayRegistry", "array_base", "arrays"]

ARRAY_NOTE = "numpy array sharing its storage"  # how a holder path says the last step


def array_base(obj: Any) -> torch.Tensor | None:
    """The tensor a numpy array keeps alive (its ``base``), or None for anything else."""
    if type(obj).__name__ != "ndarray":
        return None
    base = getattr(obj, "base", None)
    return base if isinstance(base, torch.Tensor) else None


class ArrayRegistry:
    """``id(tensor) -> weak reference to the numpy array whose base it is``."""

    def __init__(self) -> None:
        self._arrays: dict[int, weakref.ref[Any]] = {}

    def note(self, array: Any) -> torch.Tensor | None:
        """Remember ``array`` if it is a numpy array over a tensor; returns that tensor."""
        base = array_base(array)
        if base is not None:
            key = id(base)  # the base outlives the array: its id is not reused meanwhile

            def forget(ref: weakref.ref[Any], key: int = key) -> None:
                if self._arrays.get(key) is ref:
                    del self._arrays[key]

            self._arrays[key] = weakref.ref(array, forget)
        return base

    def array_of(self, t: Any) -> Any | None:
        """The live numpy array whose base is ``t``, if one was noted."""
        ref = self._arrays.get(id(t))
        array = None if ref is None else ref()
        return array if array is not None and array_base(array) is t else None

    def __len__(self) -> int:
        return len(self._arrays)


arrays = ArrayRegistry()
