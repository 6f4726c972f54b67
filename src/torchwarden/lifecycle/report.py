"""What a scope found: leaks, state, memory, rendered as a table or JSON.

Leaks are :class:`~torchwarden.findings.LeakFinding` s (phrased by ``leaks.py``), the
same objects ``torchwarden run`` writes to ``run.json``.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass, field
from typing import Any

from torchwarden.findings import LeakFinding
from torchwarden.units import format_bytes

__all__ = ["Leak", "ScopeReport", "StateTensor"]

SCHEMA = "torchwarden.scope/1"


Leak = LeakFinding  # the name this package exported before findings were one type


@dataclass(frozen=True)
class StateTensor:
    """A parameter, buffer, gradient or optimizer state tensor created inside the scope."""

    what: str  # parameter, buffer, grad, optimizer state
    holder: str
    site: str
    shape: tuple[int, ...]
    nbytes: int
    device: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "shape": list(self.shape)}


@dataclass
class ScopeReport:
    """The result of one scope: ``leaks``, ``state`` and ``memory``.

    ``mode`` is ``exact`` (every tensor examined) or ``counters`` (only cheap memory
    counters read; ``suspect`` says they grew for several calls in a row, and the next
    call of this scope will be exact).
    """

    name: str
    mode: str
    leaks: list[LeakFinding] = field(default_factory=list)
    state: list[StateTensor] = field(default_factory=list)
    outputs: int = 0
    # before/after samples, turned into the ``memory`` mapping only when someone asks
    samples: tuple[Any, Any] | None = field(default=None, repr=False)
    tensor_bytes_after: int | None = None
    duration_s: float = 0.0
    bytes_leaked: int = 0
    suspect: bool = False
    exception: str | None = None
    # (weak reference, holder extent) of each leaked tensor, in the order of ``leaks``;
    # what the step monitor's growth rule reads, never serialised
    leaked: list[Any] = field(default_factory=list, repr=False, compare=False)

    @property
    def memory(self) -> dict[str, dict[str, dict[str, int | None]]]:
        """``{"before": {...}, "after": {...}}``: per device, bytes (CPU: rss, tensor_bytes)."""
        from torchwarden.lifecycle.trend import memory_dict

        if self.samples is None:
            return {}
        before, after = self.samples
        return {"before": memory_dict(before), "after": memory_dict(after, self.tensor_bytes_after)}

    @property
    def ok(self) -> bool:
        return not self.leaks and not self.suspect

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "name": self.name,
            "mode": self.mode,
            "ok": self.ok,
            "bytes_leaked": self.bytes_leaked,
            "suspect": self.suspect,
            "exception": self.exception,
            "duration_s": round(self.duration_s, 6),
            "outputs": self.outputs,
            "leaks": [leak.to_dict() for leak in self.leaks],
            "state": [s.to_dict() for s in self.state],
            "memory": self.memory,
        }

    def render(self, width: int = 140, max_rows: int = 20) -> str:
        from rich.console import Console
        from rich.table import Table

        out = io.StringIO()
        console = Console(file=out, width=width, no_color=True, highlight=False)
        verdict = (
            "ok"
            if self.ok
            else f"{len(self.leaks)} leaked tensor(s), {format_bytes(self.bytes_leaked)}"
        )
        if self.suspect and not self.leaks:
            verdict = "memory grew for several calls in a row; the next call will be examined"
        console.print(f"torchwarden scope {self.name!r} ({self.mode}): {verdict}")
        if self.leaks:
            table = Table(show_lines=False, expand=False)
            for col in ("site", "holder", "shape", "dtype", "device", "bytes", "graph"):
                table.add_column(col, overflow="fold")
            for leak in self.leaks[:max_rows]:
                table.add_row(
                    leak.site or "<unknown>",
                    leak.holder,
                    "x".join(map(str, leak.shape)) or "()",
                    leak.dtype,
                    leak.device,
                    format_bytes(leak.nbytes),
                    format_bytes(leak.graph_bytes) if leak.retains_graph else "-",
                )
            console.print(table)
            if len(self.leaks) > max_rows:
                console.print(f"... and {len(self.leaks) - max_rows} more")
            console.print(f"fix: {self.leaks[0].fix}")
        if self.state:
            console.print(f"state created (not leaks): {len(self.state)} tensor(s)")
        return out.getvalue().rstrip()

    def __str__(self) -> str:
        return self.render()

    # IPython and Jupyter show a report as its table, not as the dataclass's fields.
    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(f"ScopeReport({self.name!r})" if cycle else self.render())

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.render())}</pre>"
