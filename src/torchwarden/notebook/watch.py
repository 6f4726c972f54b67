"""After each cell: did the kernel start holding tensors it did not hold before?

While a cell runs, a creation recorder (the scope engine's, swept as it goes) notes
each tensor a torch call makes and where: when the cell ends, those still alive and
not seen before are what it left held. With sites off, every cell pays instead for
two reads of the cheap counters (C heap bytes, RSS, CUDA bytes allocated:
microseconds, see ``lifecycle/trend.py``) and a look at the output cache and the
saved traceback; only when one of them moved does a census of every live tensor run.
Either way the new tensors get holders, sizes and graphs from ``lifecycle.holdings``,
and tensors bound straight to a notebook name skip the heap walk.
"""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from torchwarden.frames import Site
from torchwarden.lifecycle.holdings import Holding, holdings
from torchwarden.lifecycle.trend import Counters, sample
from torchwarden.memory.census import live_tensors, storage_nbytes
from torchwarden.notebook.names import CellNames, namespace_holders
from torchwarden.notebook.recording import CellRecorder
from torchwarden.notebook.seen import Seen

__all__ = ["CellWatch", "Options"]

# Growth that asks for a census when sites are off: a new CPU tensor moves the C heap
# by a few hundred bytes at least; RSS moves by pages; any CUDA allocation counts.
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
        self.recorder = CellRecorder()
        self.seen = Seen()
        self.seen.reset(live_tensors())
        self._sites: dict[int, tuple[weakref.ref[torch.Tensor], Site]] = {}
        self._before: Counters | None = None
        self._marks: tuple[int, int] = (0, 0)
        self._recording = False
        self.looks = 0  # cells whose survivors were examined

    def _cache_marks(self) -> tuple[int, int]:
        out = self.shell.user_ns.get("Out")
        last = getattr(sys, "last_value", None)
        return (len(out) if isinstance(out, dict) else 0, id(last) if last is not None else 0)

    def before_cell(self) -> None:
        if self.options.sites and not self._recording:
            self.recorder.push()
            self._recording = True
        else:
            self._before = sample()[0]
            self._marks = self._cache_marks()

    def _stop_recording(self) -> None:
        if self._recording:
            self.recorder.release()
            self._recording = False

    def _moved(self) -> bool:
        after = sample()[0]
        if self._before is None or self._cache_marks() != self._marks:
            return True
        return any(b - a > m for a, b, m in zip(self._before, after, _MARGIN))

    def _fresh(self) -> list[weakref.ref[torch.Tensor]]:
        """Weak refs to the tensors this cell left alive that were not seen before."""
        if self._recording:  # exact and cheap: the survivors of the recorder
            tensors = self.recorder.alive()
        elif self._moved():  # without sites, a census when the counters moved
            tensors = live_tensors()
        else:
            return []
        try:
            fresh = [weakref.ref(t) for t in tensors if self.seen.is_new(t)]
            if self._recording:
                self.seen.add(tensors)
            else:
                self.seen.reset(tensors)
            return fresh
        finally:
            del tensors

    def after_cell(self) -> list[Holding]:
        """Holdings that are new since the last look; empty when nothing new is held."""
        if self._recording:
            self.recorder.pop()  # the entries stay readable until released
        try:
            fresh = self._fresh()
            if not fresh:
                return []
            self.looks += 1
            gc.collect(1)  # young cycles (a traceback, a closure) are garbage, not holders
            new = [t for ref in fresh if (t := ref()) is not None]
            self.cells.refresh()
            self._keep_sites(new)
            return self._holdings(new, self.site)
        finally:
            self._stop_recording()

    def _holdings(
        self, tensors: list[torch.Tensor], where: Callable[[torch.Tensor], Site | None]
    ) -> list[Holding]:
        named = namespace_holders(self.shell.user_ns, tensors)
        return holdings(_largest_first(tensors), where=where, named=named)

    def _keep_sites(self, new: list[torch.Tensor]) -> None:
        # the recorder forgets when the cell ends: sites of tensors that stay are copied
        self._sites = {k: v for k, v in self._sites.items() if v[0]() is not None}
        for t in new:
            found = self.cells.in_cells(self.recorder.where(t))
            if found is not None:
                self._sites[id(t)] = (weakref.ref(t), found)

    def kept_site(self, t: torch.Tensor) -> Site | None:
        """Where ``t`` was made, as kept when the cell that made it ended."""
        entry = self._sites.get(id(t))
        return entry[1] if entry is not None and entry[0]() is t else None

    def site(self, t: torch.Tensor) -> Site | None:
        """Where ``t`` was made: kept from an earlier cell, or recorded in this one.

        The earlier cell wins: this cell's recorder also notes old tensors that a
        torch call merely returned again (``p.grad``, an in-place op).
        """
        found = self.kept_site(t)
        return found if found is not None else self.cells.in_cells(self.recorder.where(t))

    def current(self) -> list[Holding]:
        """Everything the kernel holds now (the census and the walk, without the diff)."""
        gc.collect()  # a traceback's frames can be old garbage: not a holder
        tensors = live_tensors()
        self.seen.reset(tensors)
        try:
            return self._holdings(tensors, self.kept_site)  # not the %tw cell's own line
        finally:
            del tensors

    def discard(self) -> None:
        """End this cell's recording without looking at it (``%tw off`` ran in the cell)."""
        if self._recording:
            self.recorder.pop()
        self._stop_recording()

    def close(self) -> None:
        """Stop for good (an unloading cell still gets its post-cell call: it stays quiet)."""
        self.options.enabled = False
        self.discard()
        self.seen.reset(())
        self._sites.clear()
