"""What the transfer audit records: copy classification, events, per-step counts, findings.

Pure data and rules, no torch hooks, so CPU tests exercise every branch. "Host" is the CPU;
every other device type (cuda, xpu, mps, meta) is "device". A *sync* makes the host wait
for the device: the queue of GPU work drains and the next step cannot overlap.

Units: bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch

from torchwarden.findings import TransferFinding
from torchwarden.units import format_bytes

__all__ = ["FIXES", "StepCounts", "TransferEvent", "classify_copy", "findings"]

Kind = Literal["h2d", "d2h", "d2d", "sync"]

FIXES: dict[str, str] = {
    "blocking-h2d": "pin the host tensor and copy with non_blocking=True, or wrap the loader in "
    "torchwarden.data.DevicePrefetcher (pinned, asynchronous, on a side stream).",
    "pageable-non-blocking": "non_blocking=True only overlaps from pinned memory: "
    "DataLoader(pin_memory=True), tensor.pin_memory(), or torchwarden.data.DevicePrefetcher.",
    "blocking-d2h": "move results to the host once every N steps, or copy into pinned memory "
    "with non_blocking=True and wait on a torch.cuda.Event before reading.",
    "value": "keep values on the device (total += loss.detach()) and read them once every N steps.",
    "branch": "avoid Python control flow on device values: use torch.where or masks, or check "
    "once every N steps.",
    "data-dependent-shape": "the result's size depends on the data, so the host must wait: use "
    "torch.where(mask, x, 0) or a static size (torch.nonzero_static).",
    "printing": "print or log device values once every N steps.",
}


def _is_host(device: torch.device) -> bool:
    return device.type == "cpu"


def classify_copy(
    src: torch.device, dst: torch.device, *, pinned: bool, non_blocking: bool
) -> tuple[Kind, str | None] | None:
    """``(kind, sync_reason)`` for a copy, or None when it is not a transfer.

    ``pinned`` is whether the host side (source of h2d, destination of d2h) is page-locked.
    ``sync_reason`` names why the host waits (a key of FIXES), or is None.
    """
    if _is_host(src) and _is_host(dst):
        return None
    if _is_host(src):
        if not non_blocking:
            return "h2d", "blocking-h2d"
        return "h2d", None if pinned else "pageable-non-blocking"
    if _is_host(dst):
        if not non_blocking:
            return "d2h", "blocking-d2h"
        return "d2h", None if pinned else "pageable-non-blocking"
    if src.type == dst.type and src.index == dst.index:
        return None
    return "d2d", None


@dataclass(frozen=True)
class TransferEvent:
    """One copy or sync, with the user's code site (``path/to/file.py:LINE``)."""

    kind: Kind
    op: str
    site: str
    step: int
    nbytes: int = 0
    src: str = ""
    dst: str = ""
    pinned: bool | None = None
    non_blocking: bool = False
    sync: str | None = None  # why the host waits (a key of FIXES), None if it does not

    def describe(self) -> str:
        if self.kind == "sync":
            return f"{self.op} on a {self.src} tensor waits for the device at {self.site}"
        memory = "" if self.pinned is None else (" pinned" if self.pinned else " pageable")
        moved = f"{format_bytes(self.nbytes)} {self.src}{memory} -> {self.dst}"
        text = f"{self.op}: {moved} at {self.site}"
        if self.sync == "pageable-non-blocking":
            text += " (non_blocking from pageable memory: a hidden sync)"
        elif self.sync is not None:
            text += " (blocking: the host waits for the device)"
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StepCounts:
    """Counts for one step (bytes in B)."""

    step: int
    h2d: int = 0
    h2d_bytes: int = 0
    h2d_pageable_bytes: int = 0
    d2h: int = 0
    d2h_bytes: int = 0
    d2d: int = 0
    d2d_bytes: int = 0
    syncs: int = 0
    hidden_syncs: int = 0

    def add(self, e: TransferEvent) -> None:
        if e.kind != "sync":
            setattr(self, e.kind, getattr(self, e.kind) + 1)
            setattr(self, f"{e.kind}_bytes", getattr(self, f"{e.kind}_bytes") + e.nbytes)
        if e.kind == "h2d" and not e.pinned:
            self.h2d_pageable_bytes += e.nbytes
        if e.sync is not None:
            self.syncs += 1
            self.hidden_syncs += e.sync == "pageable-non-blocking"

    @property
    def empty(self) -> bool:
        return self.h2d + self.d2h + self.d2d + self.syncs == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def findings(events: list[TransferEvent]) -> list[TransferFinding]:
    """Syncs grouped by (reason, op, site), most frequent first; ``step`` is the first one's."""
    groups: dict[tuple[str, str, str], list[TransferEvent]] = {}
    for e in events:
        if e.sync is not None:
            groups.setdefault((e.sync, e.op, e.site), []).append(e)
    out = []
    for (reason, _, site), group in groups.items():
        kind = "hidden-sync" if reason == "pageable-non-blocking" else "sync"
        first = group[0]
        out.append(
            TransferFinding(kind=kind, message=first.describe(), fix=FIXES[reason], site=site,
                            count=len(group), step=first.step)
        )  # fmt: skip
    return sorted(out, key=lambda f: -f.count)
