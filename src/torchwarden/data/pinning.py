"""Page-lock a NumPy array where it lives, so the DMA engine reads it directly.

``tensor.pin_memory()`` copies into a new pinned buffer (twice the memory, one more pass
over the bytes). ``pin_in_place`` registers the array's own pages with the CUDA driver
(``cudaHostRegister``) instead: no copy, no extra memory, and every later ``to_torch``
of the array, or of any slice of it, runs at pinned bandwidth. Registration itself
walks every page once, so it pays off for arrays sent more than once: a host-resident
dataset, a loader's reused batch buffer. The registration is dropped when the array is
garbage-collected, or earlier with :func:`unpin`.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np
import torch

from torchwarden.errors import DataArgumentError, DataError
from torchwarden.units import format_bytes

__all__ = ["pin_in_place", "unpin"]

_registered: dict[int, weakref.finalize[Any, Any]] = {}  # data pointer -> finalizer
_lock = threading.Lock()


def _owner(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The array that owns ``a``'s memory (views point at their base)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _unregister(ptr: int) -> None:
    with _lock:
        _registered.pop(ptr, None)
    torch.cuda.cudart().cudaHostUnregister(ptr)  # type: ignore[no-untyped-call]


def pin_in_place(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Page-lock ``a``'s memory without copying it; returns ``a`` itself.

    The copy to the device reads the array asynchronously: do not write to it while a
    transfer from it may be in flight (synchronize, or alternate two buffers).
    """
    if not torch.cuda.is_available():
        raise DataError(
            "pin_in_place needs CUDA (page-locking is a CUDA driver service). "
            "Fix: skip it on machines without a GPU; to_torch works without it."
        )
    if not isinstance(a, np.ndarray):
        raise DataArgumentError(f"pin_in_place takes a NumPy array, got {type(a).__name__}.")
    owner = _owner(a)
    if owner.base is not None or not owner.flags.owndata:
        raise DataError(
            "pin_in_place: this array does not own its memory (it wraps a buffer of another "
            "object), so its lifetime cannot be tracked. Fix: np.array(x) it once, then pin that."
        )
    ptr, nbytes = owner.__array_interface__["data"][0], owner.nbytes
    with _lock:
        if ptr in _registered or nbytes == 0:
            return a
    err = torch.cuda.cudart().cudaHostRegister(ptr, nbytes, 0)  # type: ignore[no-untyped-call]
    if int(err) != 0:
        raise DataError(
            f"pin_in_place: cudaHostRegister refused {format_bytes(nbytes)} (error {int(err)}); the "
            "page-locked memory limit may be reached (ulimit -l, or docker --ulimit memlock=-1)."
        )
    with _lock:
        _registered[ptr] = weakref.finalize(owner, _unregister, ptr)
    return a


def unpin(a: np.ndarray[Any, Any]) -> None:
    """Drop the page-lock taken by :func:`pin_in_place` (no effect if there is none)."""
    ptr = _owner(a).__array_interface__["data"][0]
    with _lock:
        finalizer = _registered.get(ptr)
    if finalizer is not None:
        torch.cuda.synchronize()  # no transfer may still be reading the pages
        finalizer()
