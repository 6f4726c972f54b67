"""``DevicePrefetcher``: the next batches are already on their way while this one computes.

Mental model, per batch k (CUDA):
  host:   pageable leaves -> slot k % (depth+1)'s pinned buffers (torch's parallel copy)
  stream: side stream copies pinned -> fresh device tensors (non_blocking), records event k
  yield:  consumer stream waits on event k (a GPU-side wait, no host sync), and each device
          tensor is ``record_stream``-ed on it, so the allocator never hands its memory to a
          later batch while the consumer's kernels may still read it.
A slot's pinned buffers are refilled only after its event has fired (its DMA finished).
On any other device the prefetcher passes batches through (arrays become tensors, shared).

Shapes: any; every leaf keeps its shape and dtype. Units: bytes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch

from torchwarden.data import staging
from torchwarden.data.interop import to_torch
from torchwarden.data.reasons import usable_device
from torchwarden.errors import DataArgumentError

__all__ = ["DevicePrefetcher", "tree_map"]


def tree_map(fn: Callable[[Any], Any], batch: Any) -> Any:
    """Apply ``fn`` to every tensor/array leaf of nested dicts, lists, tuples, namedtuples."""
    if isinstance(batch, (torch.Tensor, np.ndarray)):
        return fn(batch)
    if isinstance(batch, Mapping):
        items = {k: tree_map(fn, v) for k, v in batch.items()}
        return items if type(batch) is dict else _rebuild(batch, items)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(tree_map(fn, v) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(tree_map(fn, v) for v in batch)
    return batch


def _rebuild(original: Mapping[Any, Any], items: dict[Any, Any]) -> Any:
    try:
        return type(original)(items)  # type: ignore[call-arg]
    except TypeError:
        return items


class _Slot:
    """Pinned staging buffers for one batch in flight; reused once its copies have finished."""

    def __init__(self, pin: bool = True) -> None:
        self.pin = pin
        self.buffers: list[torch.Tensor] = []
        self.event: torch.cuda.Event | None = None
        self.keep: list[torch.Tensor] = []  # pinned sources read in place until the event
        self.next = 0

    def reuse(self) -> None:
        if self.event is not None:
            self.event.synchronize()
        self.event, self.keep, self.next = None, [], 0

    def stage(self, src: torch.Tensor) -> torch.Tensor:
        """Copy host ``src`` into this slot's next buffer (grown if too small); a view of it."""
        nbytes, i = src.numel() * src.element_size(), self.next
        self.next += 1
        if i == len(self.buffers):
            self.buffers.append(torch.empty(0, dtype=torch.uint8))
        if self.buffers[i].numel() < nbytes:
            self.buffers[i] = torch.empty(nbytes, dtype=torch.uint8, pin_memory=self.pin)
        staged = self.buffers[i][:nbytes].view(src.dtype).view(src.shape)
        return staged.copy_(src)

    def send(self, leaf: Any, stream: torch.cuda.Stream, fresh: list[torch.Tensor]) -> torch.Tensor:
        """Start ``leaf``'s copy to ``stream``'s device on ``stream`` (the current stream)."""
        device: torch.device = stream.device
        src: torch.Tensor = staging.host_view(leaf) if isinstance(leaf, np.ndarray) else leaf
        src = src.detach()  # batches are data: no autograd history crosses to the device
        if src.device == device:
            return src
        if src.device.type not in ("cpu", "cuda"):
            return src.to(device)
        if src.device.type == "cuda":  # another GPU: wait for the stream that produced it
            stream.wait_stream(torch.cuda.current_stream(src.device))
        if src.device.type == "cuda" or src.is_pinned():
            self.keep.append(src)  # read in place: keep it alive until the copy is done
            host = src
        else:
            host = self.stage(src)
        out = torch.empty(src.shape, dtype=src.dtype, device=device)
        out.copy_(host, non_blocking=True)
        fresh.append(out)
        return out


class DevicePrefetcher:
    """Iterate ``iterable`` with each batch already on ``device``, ``depth`` batches ahead.

    >>> loader = DevicePrefetcher(DataLoader(ds, batch_size=64), "cuda")  # doctest: +SKIP
    >>> for batch in loader: ...  # doctest: +SKIP
    """

    def __init__(self, iterable: Iterable[Any], device: torch.device | str | int, depth: int = 2):
        if not isinstance(iterable, Iterable):  # fail here, not at the first batch
            raise DataArgumentError(
                f"DevicePrefetcher({type(iterable).__name__}): expects an iterable of batches, "
                "such as a DataLoader."
            )
        if type(depth) is not int or depth < 1:
            raise DataArgumentError(
                f"DevicePrefetcher(depth={depth!r}): depth must be >= 1, an int (2 is typical)."
            )
        dev = usable_device(device, "DevicePrefetcher")
        if dev is None:
            raise DataArgumentError("DevicePrefetcher(device=None): name the device, e.g. 'cuda'.")
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        self.iterable, self.device, self.depth = iterable, dev, depth

    def __len__(self) -> int:
        try:
            return len(self.iterable)  # type: ignore[arg-type]
        except TypeError:
            raise DataArgumentError(
                f"DevicePrefetcher over a {type(self.iterable).__name__} has no len()"
            ) from None

    def __iter__(self) -> Iterator[Any]:
        if self.device.type != "cuda":
            return (tree_map(lambda x: to_torch(x, self.device), b) for b in self.iterable)
        return self._cuda()

    def _cuda(self) -> Iterator[Any]:
        stream = torch.cuda.Stream(self.device)  # type: ignore[no-untyped-call]
        slots = [_Slot() for _ in range(self.depth + 1)]
        pending: deque[tuple[Any, list[torch.Tensor], torch.cuda.Event]] = deque()
        source = iter(self.iterable)

        def launch(k: int) -> bool:
            batch = next(source, _END)
            if batch is _END:
                return False
            slot, fresh = slots[k % len(slots)], list[torch.Tensor]()
            slot.reuse()
            with torch.cuda.stream(stream):
                out = tree_map(lambda x: slot.send(x, stream, fresh), batch)
                slot.event = torch.cuda.Event()  # type: ignore[no-untyped-call]
                slot.event.record(stream)
            pending.append((out, fresh, slot.event))
            return True

        k = 0
        while k < self.depth and launch(k):
            k += 1
        while pending:
            out, fresh, event = pending.popleft()
            k += launch(k)
            current = torch.cuda.current_stream(self.device)
            current.wait_event(event)
            for t in fresh:
                t.record_stream(current)
            yield out


_END = object()
