"""Tables as data: the one place each page's columns are defined.

A table is columns and rows of cells (text, an optional link inside this app, an
optional class from a fixed set). The server renders it into HTML through an
autoescaping template; the browser re-renders it from the same JSON on each live
update with ``textContent``. Neither ever treats a cell's text as markup.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Any

from torchwarden.runtime.index import RunRow
from torchwarden.units import format_bytes, format_seconds

__all__ = ["Cell", "Table", "format_time", "queue_table", "runs_table", "status_cell"]

STATUS_CLASSES = {
    "ok": "good", "running": "live", "waiting": "live", "failed": "bad", "oom": "bad",
    "lost": "bad", "interrupted": "warn", "gave-up": "warn",
}  # fmt: skip


@dataclass(frozen=True)
class Cell:
    text: str
    href: str | None = None  # built by the server from validated ids, never from a file
    cls: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "href": self.href, "cls": self.cls}


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    empty: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "rows": [[c.to_dict() for c in row] for row in self.rows],
            "empty": self.empty,
        }


def text(value: object) -> Cell:
    return Cell("—" if value is None or value == "" else str(value))


def status_cell(status: str) -> Cell:
    return Cell(status, cls=STATUS_CLASSES.get(status))


def format_time(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)) + "Z"


def format_age(epoch: float | None, now: float) -> str:
    return "—" if epoch is None else f"{format_seconds(max(0.0, now - epoch))} ago"


def runs_table(rows: list[RunRow], *, empty: str = "No runs in the index.") -> Table:
    table = Table(
        ["run", "user", "status", "step", "step time", "peak memory", "findings", "GPUs",
         "started", "last step"],
        empty=empty,
    )  # fmt: skip
    now, here = time.time(), socket.gethostname()
    for row in rows:
        name = row.name if row.host == here else f"{row.name} (on {row.host})"
        table.rows.append([
            Cell(name, href=f"/runs/{row.id}"),
            text(row.user),
            status_cell(row.status),
            text(row.step),
            text(format_seconds(row.step_time_s) if row.step_time_s is not None else None),
            text(format_bytes(row.peak_bytes) if row.peak_bytes is not None else None),
            Cell(str(row.findings or 0), cls="warn" if row.findings else None),
            text(gpu_list(row.gpus)),
            text(format_time(row.started_at)),
            text(format_age(row.last_step_at, now)),
        ])  # fmt: skip
    return table


def queue_table(rows: list[RunRow]) -> Table:
    """Runs waiting for a GPU lease, the longest-waiting first."""
    table = Table(
        ["run", "user", "pid", "command", "asked for", "waiting since"],
        empty="Nobody is waiting for a GPU.",
    )
    now = time.time()
    for row in sorted(rows, key=lambda r: r.started_at):
        since = f"{format_time(row.started_at)} ({format_age(row.started_at, now)})"
        table.rows.append([
            Cell(row.name, href=f"/runs/{row.id}"), text(row.user), text(row.pid),
            text(row.command), text(asked_text(row.asked)), text(since),
        ])  # fmt: skip
    return table


def asked_text(asked: str | None) -> str | None:
    """``--gpus`` as asked, in words: ``any 2 GPUs``, ``GPU 3``, ``GPUs 0,2``."""
    if not asked:
        return None
    if "," not in asked:
        return f"any {asked} GPU{'s' if asked != '1' else ''}"
    return gpu_list(tuple(int(i) for i in asked.split(",") if i.isdigit()))


def gpu_list(indices: tuple[int, ...]) -> str | None:
    """``GPU 0`` / ``GPUs 0,2`` (physical indices, as leases and nvidia-smi number them)."""
    if not indices:
        return None
    return ("GPU " if len(indices) == 1 else "GPUs ") + ",".join(map(str, indices))


def key_values(pairs: list[tuple[str, object]]) -> Table:
    table = Table(["", ""])
    table.rows = [[Cell(k), text(v) if not isinstance(v, Cell) else v] for k, v in pairs]
    return table
