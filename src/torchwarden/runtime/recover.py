"""Rebuild a run's record from ``events.jsonl`` when the run could not write it.

A run killed by SIGKILL or the OOM killer leaves ``events.jsonl`` (every step but the
last few) and a ``run.json`` a few seconds old with status ``running``.
:func:`recover` reads the stream as untrusted input (each line bounded, each event
validated by :mod:`torchwarden.metrics.events`, a line that does not validate skipped) and returns the
record the run would have written: every step through the bounded series, the
findings streamed, and status ``interrupted`` with no exit code when no final status
was streamed and the run's process is gone. ``torchwarden report DIR`` calls it.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from torchwarden.errors import ReportError, RunError
from torchwarden.findings import Finding
from torchwarden.metrics.events import (
    Event,
    FindingEvent,
    Header,
    StatusEvent,
    StepEvent,
    event_to_dict,
    parse_line,
)
from torchwarden.report.run_record import EnvironmentSummary, RunRecord, RunStatus, StepRecord
from torchwarden.report.schema import STEP, validate_run_record
from torchwarden.runtime.record import merge_records
from torchwarden.runtime.series import StepSeries
from torchwarden.runtime.stream import EVENTS

__all__ = ["read_events", "recover", "recover_dir"]

_MAX_LINE = 1 << 20  # bytes: a step or finding is far smaller; a longer line is not ours
_MAX_FINDINGS = 10_000


def read_events(path: Path) -> Iterator[Event]:
    """The stream's events that parse and validate (``metrics.events``); others are skipped."""
    with open(path, "rb") as f:
        if not isinstance(_parse(f.readline(_MAX_LINE + 1)), Header):
            raise RunError(f"{path} is not a torchwarden.events/1 stream (its first line).")
        for line in f:
            event = _parse(line)
            if event is not None:
                yield event


def _parse(line: bytes) -> Event | None:
    if len(line) > _MAX_LINE or not line.endswith(b"\n"):
        return None  # too long, or the partial last line of a killed writer
    return parse_line(line)


def _step(event: StepEvent) -> StepRecord | None:
    """The event as run.json's step, if it is one (a CPU entry needs its RSS)."""
    record = {k: v for k, v in event_to_dict(event).items() if k != "type"}
    try:
        STEP(record, "step")
    except ReportError:
        return None
    return cast(StepRecord, record)


def recover(directory: Path) -> RunRecord:
    """The record of the run in ``directory`` (one process), rebuilt from its stream."""
    snapshot = _snapshot(directory / "run.json")
    series, findings = StepSeries(), list[dict[str, Any]]()
    status: RunStatus | None = None
    exit_code: int | None = None
    for event in read_events(directory / EVENTS):
        if isinstance(event, StepEvent) and (step := _step(event)) is not None:
            series.add(step)
        elif isinstance(event, FindingEvent) and len(findings) < _MAX_FINDINGS:
            findings.append(event.finding)
        elif isinstance(event, StatusEvent):
            status, exit_code = cast(RunStatus, event.status), event.exit_code
    if status in (None, "running") and _alive(snapshot):
        status = "running"
    elif status in (None, "running"):
        status, exit_code = "interrupted", None
        findings.insert(0, _killed(series.count))
    return _assemble(snapshot, directory, series, findings, status, exit_code)


def recover_dir(directory: Path) -> RunRecord:
    """A run directory's record: one process, or the merge of its ``rank-N`` directories."""
    ranks = sorted(p for p in directory.glob("rank-*") if (p / EVENTS).is_file())
    if (directory / EVENTS).is_file() or not ranks:
        return recover(directory)
    records = [recover(r) for r in ranks]
    return merge_records(records, command=records[0]["command"], exit_code=None)


def _snapshot(path: Path) -> dict[str, Any] | None:
    """The last ``run.json`` the run wrote, if it is a valid record."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        validate_run_record(record)
    except (OSError, ValueError, ReportError):
        return None
    return cast(dict[str, Any], record)


def _alive(snapshot: dict[str, Any] | None) -> bool:
    """Whether the run's process still runs (on this host); unknown counts as gone."""
    if snapshot is None or snapshot["environment"]["hostname"] != socket.gethostname():
        return False
    pid = snapshot["ranks"][0]["pid"] if snapshot["ranks"] else None
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _killed(steps: int) -> dict[str, Any]:
    return Finding(
        kind="killed",
        message=f"The run ended after {steps} steps without writing its record: it was killed "
        "(SIGKILL, the OOM killer, or a lost machine). This record was rebuilt from events.jsonl.",
        fix="Check `dmesg` or the scheduler's log for the kill; save checkpoints to resume.",
        severity="error",
    ).to_dict()


def _assemble(
    snapshot: dict[str, Any] | None,
    directory: Path,
    series: StepSeries,
    findings: list[dict[str, Any]],
    status: RunStatus,
    exit_code: int | None,
) -> RunRecord:
    base: dict[str, Any] = snapshot or {
        "schema": "torchwarden.run/1",
        "name": directory.name,
        "command": ["unknown"],
        "started_at": "1970-01-01T00:00:00Z",
        "ended_at": "1970-01-01T00:00:00Z",
        "duration_s": 0.0,
        "environment": _unknown_environment(),
        "world_size": 1,
        "ranks": [{"rank": 0, "pid": None, "status": status, "exit_code": None, "steps": 0}],
        "artifacts": {"report": "report.html", "snapshot": None, "events": EVENTS},
    }
    steps = series.steps()
    rank = {**base["ranks"][0], "status": status, "exit_code": exit_code, "steps": series.count}
    last_t = max((float(s["t"]) for s in steps), default=0.0)
    record = {
        **base,
        "status": status,
        "exit_code": exit_code,
        "duration_s": max(float(base["duration_s"]), last_t),
        "ranks": [rank],
        "steps": steps,
        "findings": findings,
        "summary": series.summary(),
    }
    return cast(RunRecord, record)


def _unknown_environment() -> EnvironmentSummary:
    return {
        "python": "unknown",
        "platform": "unknown",
        "hostname": "unknown",
        "torch": None,
        "cuda": None,
        "driver": None,
        "gpus": [],
        "cuda_visible_devices": None,
    }
