"""Find every tensor the Python heap holds, and count storage bytes once.

A census walks ``gc.get_objects()``: about 10-30 ms for a heap of ~200k objects, so
it belongs to forensics, never to a per-step hot path.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from itertools import compress

import torch

__all__ = ["live_tensors", "storage_key", "storage_nbytes", "unique_storage_bytes"]


# Tensor types with no memory of their own: torch.compile's tracing tensors (fake,
# functional), which its caches keep alive; reading their data pointer raises.
_TRACING_MODULES = ("torch._subclasses.", "torch._functorch.", "torch.fx.")


class _IsTensorType(dict[type, bool]):
    """type -> is it a real tensor type; filled on first sight so the scan stays in C."""

    def __missing__(self, tp: type) -> bool:
        verdict = (
            isinstance(tp, type)
            and issubclass(tp, torch._C.TensorBase)
            and not tp.__module__.startswith(_TRACING_MODULES)
        )
        self[tp] = verdict
        return verdict


_is_tensor_type = _IsTensorType()


def live_tensors() -> list[torch.Tensor]:
    """Every real tensor object reachable by the garbage collector, in no particular order.

    Tracing tensors (fake, functional, meta) are left out: they hold no memory.

    Tensors that live only inside C++ (saved activations of an autograd graph) have no
    Python object and are not listed: :func:`torchwarden.graph_retention` counts those.
    """
    objects = gc.get_objects()
    try:
        # type() never calls user code, unlike isinstance() on proxies with __class__.
        found = compress(objects, map(_is_tensor_type.__getitem__, map(type, objects)))
        return [t for t in found if not _is_tracing(t)]
    finally:
        del objects


def _is_tracing(t: torch.Tensor) -> bool:
    """True for tensors that only describe data: meta, or functional wrappers of compile."""
    return t.is_meta or torch._is_functional_tensor(t)


def storage_key(t: torch.Tensor) -> tuple[str, int] | None:
    """Identity of a tensor's storage (device, data pointer); None for storage-less tensors."""
    if type(t) is not torch.Tensor and not _is_tensor_type[type(t)]:
        return None  # a tracing tensor of torch.compile: no data pointer to read
    try:
        storage = t.untyped_storage()
        # FakeTensors that torch.compile leaves in its caches refuse data_ptr(): no storage
        ptr = storage.data_ptr()
    except (RuntimeError, NotImplementedError):  # meta, sparse, fake and functional tensors
        return None
    if ptr == 0:
        return None
    return (str(t.device), ptr)


def storage_nbytes(t: torch.Tensor) -> int:
    """Bytes of the whole storage behind ``t``: a small view of a large tensor pins all of it."""
    try:
        return int(t.untyped_storage().nbytes())
    except (RuntimeError, NotImplementedError):
        return int(t.numel() * t.element_size())


def unique_storage_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Sum of storage bytes, each storage counted once however many views share it."""
    seen: set[tuple[str, int]] = set()
    total = 0
    for t in tensors:
        key = storage_key(t)
        if key is None or key in seen:
            continue
        seen.add(key)
        total += storage_nbytes(t)
    return total
