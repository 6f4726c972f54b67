"""Host memory on its way to the device: read-only views, pinned buffers, the chunked copy.

Why staging: a DMA engine reads only page-locked (pinned) memory. From pageable memory the
CUDA driver copies through its own small bounce buffer, one piece at a time, and the host
waits. We copy into our own reusable pinned buffers (torch's multi-threaded copy) in chunks,
and the DMA of chunk k runs on a side stream while the host fills chunk k+1.

Units: bytes; MiB = 2**20 bytes.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch

from torchwarden.data.reasons import EXTENSION_DTYPES, effective_strides, numpy_reasons
from torchwarden.errors import DataError

__all__ = ["host_view", "pinned_empty", "share_numpy", "to_device"]

MiB = 2**20
# Measured on an H200 host (benchmarks/data_transfer.py --sweep): 8 MiB chunks in 4 buffers
# beat larger chunks; the plateau (~89% of pinned bandwidth) is the host copy itself.
FIRST_CHUNK, MAX_CHUNK, N_BUFFERS = 2 * MiB, 8 * MiB, 4


def chunks(n: int) -> list[tuple[int, int]]:
    """``(start, stop)`` byte ranges: small first so the DMA starts early, then doubling up
    to MAX_CHUNK so that per-chunk Python overhead stays small against the copy itself."""
    out, start, size = [], 0, FIRST_CHUNK
    while start < n:
        out.append((start, min(n, start + size)))
        start, size = start + size, min(MAX_CHUNK, 2 * size)
    return out


class _ReadAlias:
    """Exposes read-only memory as writable to NumPy, so torch can read it without a warning.

    Only for reading inside torchwarden: the alias never reaches the user.
    """

    def __init__(self, a: np.ndarray[Any, Any]) -> None:
        self.base = a  # keeps the memory alive
        interface = dict(a.__array_interface__)
        interface["data"] = (interface["data"][0], False)
        self.__array_interface__ = interface


def share_numpy(a: np.ndarray[Any, Any]) -> torch.Tensor:
    """A CPU tensor on ``a``'s memory; ``a`` must have no copy reasons but read-only."""
    strides = effective_strides(a)
    if strides != a.strides:
        a = np.lib.stride_tricks.as_strided(a, strides=strides, writeable=a.flags.writeable)
    if not a.flags.writeable:
        a = np.asarray(_ReadAlias(a))
    ext = EXTENSION_DTYPES.get(a.dtype.name)
    if ext is not None:  # ml_dtypes bfloat16/float8: share the bits, reinterpret in torch
        bits = np.uint16 if a.itemsize == 2 else np.uint8
        return torch.from_numpy(a.view(bits)).view(ext)
    return torch.from_numpy(a)


def host_view(a: np.ndarray[Any, Any]) -> torch.Tensor:
    """A CPU tensor to read ``a`` from: shared when torch can address it, else a native copy."""
    if any(r.kind != "read-only" for r in numpy_reasons(a)):
        # ALIGNED too: np.ascontiguousarray keeps a misaligned array as it is
        a = np.require(a, dtype=a.dtype.newbyteorder("="), requirements=["C", "A"])
    return share_numpy(a)


def pinned_empty(shape: tuple[int, ...] | int, dtype: Any = np.float32) -> np.ndarray[Any, Any]:
    """A NumPy array in pinned (page-locked) host memory: ``to_torch`` sends it at full speed.

    Fill it in place (a loader's output buffer); the copy to the device is asynchronous, so
    do not overwrite it until the device has the data (keep two and alternate).
    """
    if not torch.cuda.is_available():
        raise DataError(
            "pinned_empty needs CUDA (pinned memory is a CUDA allocation). "
            "Fix: use np.empty on machines without a GPU."
        )
    torch_dtype = torch.from_numpy(np.empty(0, dtype=dtype)).dtype
    return torch.empty(shape, dtype=torch_dtype, pin_memory=True).numpy()


class _Ring:
    """Pinned chunk buffers and the side stream that drains them, for one device."""

    def __init__(self, device: torch.device) -> None:
        self.stream = torch.cuda.Stream(device)  # type: ignore[no-untyped-call]
        self.buffers = [
            torch.empty(MAX_CHUNK, dtype=torch.uint8, pin_memory=True) for _ in range(N_BUFFERS)
        ]
        self.events: list[torch.cuda.Event | None] = [None] * N_BUFFERS
        self.lock = threading.Lock()

    def copy(self, src: torch.Tensor, out: torch.Tensor) -> None:
        """Copy contiguous ``src`` (host) into ``out`` (device), chunk by chunk; async at return."""
        src_bytes, out_bytes = _bytes(src), _bytes(out)
        for k, (start, stop) in enumerate(chunks(src_bytes.numel())):
            slot = k % N_BUFFERS
            event = self.events[slot]
            if event is not None:
                event.synchronize()  # its last DMA has read the buffer: safe to refill
            staged = self.buffers[slot][: stop - start]
            staged.copy_(src_bytes[start:stop])
            with torch.cuda.stream(self.stream):
                out_bytes[start:stop].copy_(staged, non_blocking=True)
                event = torch.cuda.Event()  # type: ignore[no-untyped-call]
                event.record(self.stream)
            self.events[slot] = event


_RINGS: dict[torch.device, _Ring] = {}
_RINGS_LOCK = threading.Lock()


def _ring(device: torch.device) -> _Ring:
    with _RINGS_LOCK:
        if device not in _RINGS:
            _RINGS[device] = _Ring(device)
        return _RINGS[device]


def _bytes(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1).view(torch.uint8)


def to_device(src: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a host tensor to ``device``; through pinned staging when the target is CUDA.

    The result is ordered on the current stream; ``src`` may be modified after return
    unless it is pinned (then the copy reads it asynchronously, like ``non_blocking=True``).
    """
    if device.type != "cuda":
        return src.to(device)
    if device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if src.is_pinned() or src.numel() == 0:
        return src.to(device, non_blocking=True)
    ring = _ring(device)
    with ring.lock:
        with torch.cuda.stream(ring.stream):  # allocate on the side stream: no wait on compute
            out = torch.empty(src.shape, dtype=src.dtype, device=device)
        ring.copy(src.contiguous(), out)
        current = torch.cuda.current_stream(device)
        current.wait_stream(ring.stream)
        out.record_stream(current)  # freed on the consumer's stream, reused only after its work
    return out
