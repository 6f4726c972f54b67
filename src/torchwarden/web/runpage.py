"""The run page: one run's header, environment, findings, attempts and ranks, kept live.

A :class:`RunPage` follows the run's ``events.jsonl`` (through ``metrics.rundir``)
and turns what is new into a message for the browser: chart points, and the tables
that changed. The first message carries everything so far.
"""

from __future__ import annotations

from typing import Any

from torchwarden.metrics.events import AttemptEvent, Event, FindingEvent, StatusEvent, StepEvent
from torchwarden.metrics.rundir import EventTail, open_run_file, read_run_record
from torchwarden.runtime.index import RunRow
from torchwarden.units import format_bytes
from torchwarden.web.tables import (
    Cell,
    Table,
    asked_text,
    format_time,
    gpu_list,
    key_values,
    status_cell,
    text,
)

__all__ = ["RunPage", "has_report", "static_tables"]

MAX_FINDINGS = 500  # shown on the page; run.json and report.html keep them all
FINDING_FIELDS = ("holder", "site", "library_site", "device", "verdict")


def has_report(row: RunRow) -> bool:
    import os

    try:
        os.close(open_run_file(row.out_dir, "report.html", row.uid))
    except OSError:
        return False
    return True


def static_tables(row: RunRow) -> dict[str, Any]:
    """What run.json says that does not change while the run goes: the environment."""
    record = read_run_record(row.out_dir, row.uid) or {}
    env = record.get("environment")
    env = env if isinstance(env, dict) else {}
    pairs: list[tuple[str, object]] = [
        (str(k), v) for k, v in env.items() if isinstance(v, (str, int, float)) or v is None
    ]
    gpus = env.get("gpus")
    if isinstance(gpus, list):
        pairs.append(("gpus", "; ".join(_gpu_text(g) for g in gpus if isinstance(g, dict))))
    table = key_values(pairs)
    table.empty = "No run.json yet: the environment is recorded when it is first written."
    return {"environment": table.to_dict()}


def _gpu_text(gpu: dict[str, Any]) -> str:
    total = gpu.get("memory_total")
    size = format_bytes(total) if isinstance(total, int) and total >= 0 else "?"
    return f"{gpu.get('index', '?')}: {gpu.get('name', '?')} ({size})"


class RunPage:
    """What a browser watching one run has been sent so far."""

    def __init__(self, row: RunRow) -> None:
        self.row = row
        self._tail = EventTail(row.out_dir, row.uid)
        self._findings: list[dict[str, Any]] = []
        self._attempts: list[AttemptEvent] = []
        self._ranks: dict[int, dict[str, Any]] = {}
        self._status: StatusEvent | None = None
        self._first = True

    def poll(self, row: RunRow) -> dict[str, Any] | None:
        """The next message: new points and changed tables, or ``None`` when nothing changed."""
        events = self._tail.poll()
        changed = self._first or row != self.row
        self.row, self._first = row, False
        points = [_point(e) for e in events if isinstance(e, StepEvent)]
        for event in events:
            changed |= self._take(event)
        if not changed and not points:
            return None
        return {"points": points, "tables": self._tables(), "status": self._status_text()}

    def _take(self, event: Event) -> bool:
        if isinstance(event, StepEvent):
            rank = self._ranks.setdefault(event.rank, {"steps": 0, "last_t": None})
            rank["steps"] = max(rank["steps"], event.step)
            rank["last_t"] = event.t
            return True
        if isinstance(event, FindingEvent) and len(self._findings) < MAX_FINDINGS:
            self._findings.append(event.finding)
        elif isinstance(event, AttemptEvent):
            self._attempts.append(event)
        elif isinstance(event, StatusEvent):
            self._status = event
        return not isinstance(event, StepEvent)

    def _status_text(self) -> str:
        if self.row.status == "lost" or self._status is None:
            return self.row.status  # the index knows a dead process; the stream does not
        return self._status.status

    def _tables(self) -> dict[str, Any]:
        return {
            "summary": self._summary().to_dict(),
            "findings": self._findings_table().to_dict(),
            "attempts": self._attempts_table().to_dict(),
            "ranks": self._ranks_table().to_dict(),
        }

    def _summary(self) -> Table:
        r = self.row
        exit_code = self._status.exit_code if self._status else r.exit_code
        queued = [("asked for", asked_text(r.asked))] if r.asked else []  # it waited for GPUs
        return key_values([
            ("name", r.name), ("user", r.user), ("status", status_cell(self._status_text())),
            ("exit code", exit_code), ("command", r.command), ("host", r.host),
            ("output directory", str(r.out_dir)), ("GPUs", gpu_list(r.gpus)), *queued,
            ("started", format_time(r.started_at)), ("ended", format_time(r.ended_at)),
        ])  # fmt: skip

    def _findings_table(self) -> Table:
        table = Table(["step", "rank", "kind", "message", "where", "fix"], empty="No findings.")
        for f in self._findings:
            where = "; ".join(f"{k}: {f[k]}" for k in FINDING_FIELDS if isinstance(f.get(k), str))
            if isinstance(f.get("nbytes"), int):
                where += f"; holds {format_bytes(f['nbytes'])}"
            kind = Cell(f["kind"], cls="bad" if f.get("severity") == "error" else "warn")
            row = [text(f.get("step")), text(f.get("rank")), kind, text(f["message"])]
            table.rows.append([*row, text(where.strip("; ")), text(f["fix"])])
        return table

    def _attempts_table(self) -> Table:
        table = Table(["attempt", "event", "rank", "how", "step", "resumed from"])
        table.empty = "One attempt, no restarts recorded."
        for a in self._attempts:
            cells = (a.attempt, a.event, a.rank, a.how, a.step, a.resumed_from)
            table.rows.append([text(c) for c in cells])
        return table

    def _ranks_table(self) -> Table:
        table = Table(["rank", "steps", "last step at (s into the run)"], empty="No steps yet.")
        for rank, seen in sorted(self._ranks.items()):
            last = None if seen["last_t"] is None else f"{seen['last_t']:.1f}"
            table.rows.append([text(rank), text(seen["steps"]), text(last)])
        return table


def _point(e: StepEvent) -> list[Any]:
    """``[step, rank, time_s, {device: bytes}]``: allocated for CUDA, resident set for the CPU."""
    memory = {
        device: c.get("rss" if device == "cpu" else "allocated")
        for device, c in e.memory.items()
        if c.get("rss" if device == "cpu" else "allocated") is not None
    }
    return [e.step, e.rank, e.time_s, memory]
