"""Creation sites over a whole cell, which may run a training loop for hours.

The scope engine's :class:`~torchwarden.lifecycle.sites.CreationRecorder` keeps one
entry per tensor a torch call returned until its last reader lets go: right for one
step, unbounded for a cell of a million steps. This recorder drops the entries of
dead tensors as it goes, and says which tensors made in the cell are still alive:
the cheapest exact signal that the cell left something held.
"""

from __future__ import annotations

from typing import Any

import torch

from torchwarden.lifecycle.sites import CreationRecorder

__all__ = ["PRUNE_EVERY", "CellRecorder"]

PRUNE_EVERY = 1 << 14  # torch calls between two sweeps of dead entries


class CellRecorder(CreationRecorder):
    """A creation recorder whose memory follows the live tensors, not the calls made."""

    def __init__(self) -> None:
        super().__init__()
        self._calls = 0

    def _note(self, out: Any, source: torch.Tensor | None = None) -> None:
        super()._note(out, source)
        self._calls += 1
        if self._calls % PRUNE_EVERY == 0:
            self._prune()

    def _prune(self) -> None:
        with self._lock:
            self._sites = {k: v for k, v in self._sites.items() if v[0]() is not None}

    def alive(self) -> list[torch.Tensor]:
        """Tensors made while recording that are still alive: the cell's survivors."""
        tensors = [ref() for ref, _ in list(self._sites.values())]
        return [t for t in tensors if t is not None]

    def entries(self) -> int:
        """How many tensors the recorder has an entry for (live or not yet swept)."""
        return len(self._sites)
