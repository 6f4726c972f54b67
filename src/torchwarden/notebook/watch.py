"""After each cell: did the kernel start holding tensors it did not hold before?

Every cell pays for two reads of the cheap counters (C heap bytes, RSS, CUDA bytes
allocated: microseconds, see ``lifecycle/trend.py``) and a look at the output cache
and the saved traceback. Only when one of them moved does the census run: every live
tensor by weak reference, compared with the previous census; the new ones get their
holders, sizes and graphs from ``lifecycle.holdings``. While a cell runs, the scope
engine's creation recorder notes where each tensor is made, so a holding can name
its cell and line.
"""

from __future__ import annotations

import gc
import sys
import weakref
from dataclasses import dataclass
from typing import Any

import torch

from torchwarden.frames import Site
from torchwarden.lifecycle.holdings import Holding, holdings, recorded_site
from torchwarden.lifecycle.sites import recorder
from torchwarden.lifecycle.trend import Counters, sample
from torchwarden.memory.census import live_tensors, storage_nbytes
from torchwarden.notebook.names import CellNames

__all__ = ["CellWatch", "Options"]

# Growth that asks for a census: a new CPU tensor moves the C heap by a few hundred
# bytes at least; RSS moves by pages; any CUDA allocation counts.
_MARGIN: Counters = (256, 1 << 20, 0)


@dataclass
class Options:
    """What ``%tw`` can change: the report threshold, recording sites, reporting at all."""

    threshold: int = 1 << 20  # bytes (storage + graph) a cell must leave held to be reported
    sites: bool = True
    enabled: bool = True


def _largest_first(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    # the holder walk is capped: when there are more tensors, the large ones matter
    return sorted(tensors, key=storage_nbytes, reverse=True)


class CellWatch:
    """The per-cell bookkeeping of one shell; holds tensors only by weak reference."""

    def __init__(self, shell: Any, options: Options) -> None:
        self.shell = shell
        self.options = options
        self.cells = CellNames(shell)
        self._known: dict[int, weakref.ref[torch.Tensor]] = {}
        self._sites: dict[int, tuple[weakref.ref[torch.Tensor], Site]] = {}
        self._before: Counters | None = None
        self._marks: tuple[int, int] = (0, 0)
        self._recording = False
        self.censuses = 0
        self._remember(live_tensors())

    def _cache_marks(self) -> tuple[int, int]:
        out = self.shell.user_ns.get("Out")
        last = getattr(sys, "last_value", None)
        return (len(out) if isinstance(out, dict) else 0, id(last) if last is not None else 0)

    def _knows(self, t: torch.Tensor) -> bool:
        ref = self._known.get(id(t))  # ids are reused: checked by identity
        return ref is not None and ref() is t

    def _remember(self, tensors: list[torch.Tensor]) -> None:
        self._known = {id(t): weakref.ref(t) for t in tensors}

    def before_cell(self) -> None:
        self._before = sample()[0]
        self._marks = self._cache_marks()
        if self.options.sites and not self._recording:
            recorder.push()
            self._recording = True

    def _stop_recording(self) -> None:
        if self._recording:
            recorder.pop()
            recorder.release()
            self._recording = False

    def _moved(self) -> bool:
        after = sample()[0]
        if self._before is None or self._cache_marks() != self._marks:
            return True
        return any(b - a > m for a, b, m in zip(self._before, after, _MARGIN))

    def after_cell(self) -> list[Holding]:
        """Holdings that are new since the last census; empty when the counters did not move."""
        try:
            if not self._moved():
                return []
            tensors = live_tensors()
            fresh = [weakref.ref(t) for t in tensors if not self._knows(t)]
            self._remember(tensors)
            del tensors
            self.censuses += 1
            if fresh:
                gc.collect(1)  # young cycles (a traceback, a closure) are garbage, not holders
            new = [t for ref in fresh if (t := ref()) is not None]
            self.cells.refresh()
            found = holdings(_largest_first(new), where=self.site) if new else []
            self._keep_sites(new)
            return found
        finally:
            self._stop_recording()

    def _keep_sites(self, new: list[torch.Tensor]) -> None:
        # the recorder forgets when the cell ends: sites of tensors that stay are copied
        self._sites = {k: v for k, v in self._sites.items() if v[0]() is not None}
        for t in new:
            found = self.cells.in_cells(recorded_site(t))
            if found is not None:
                self._sites[id(t)] = (weakref.ref(t), found)

    def site(self, t: torch.Tensor) -> Site | None:
        """Where ``t`` was made: recorded in this cell, or kept from an earlier one."""
        found = recorded_site(t)
        if found is not None:
            return self.cells.in_cells(found)
        entry = self._sites.get(id(t))
        return entry[1] if entry is not None and entry[0]() is t else None

    def current(self) -> list[Holding]:
        """Everything the kernel holds now (the census and the walk, without the diff)."""
        gc.collect()  # a traceback's frames can be old garbage: not a holder
        tensors = live_tensors()
        self._remember(tensors)
        try:
            return holdings(_largest_first(tensors), where=self.site)
        finally:
            del tensors

    def close(self) -> None:
        self._stop_recording()
        self._known.clear()
        self._sites.clear()
