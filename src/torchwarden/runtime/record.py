"""Assemble ``run.json`` (schema ``torchwarden.run/1``, docs/run-schema.md) and merge ranks.

The record's parts are the typed dictionaries of :mod:`torchwarden.report.run_record`;
findings go in as :meth:`Finding.to_dict` writes them.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchwarden.errors import RunError
from torchwarden.findings import Finding
from torchwarden.report import RUN_SCHEMA
from torchwarden.report.run_record import (
    EnvironmentSummary,
    RankRecord,
    RunRecord,
    RunStatus,
    StepRecord,
    Summary,
)
from torchwarden.runtime.rundir import write_atomic

__all__ = [
    "RunTimes",
    "build_record",
    "finding_dicts",
    "iso",
    "merge_records",
    "summarize",
    "write_json",
]


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RunTimes:
    """When a run started and ended (wall clock) and how long it took (monotonic clock)."""

    started: float
    ended: float
    duration_s: float


def finding_dicts(findings: Iterable[Finding | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The JSON form of each finding (a mapping is taken as already in that form)."""
    return [f.to_dict() if isinstance(f, Finding) else dict(f) for f in findings]


def summarize(steps: list[StepRecord]) -> Summary:
    """Steps, median step time and the peak memory seen per device."""
    peak: dict[str, int] = {}
    for s in steps:
        for device, m in s.get("memory", {}).items():
            value = m.get("rss") if device == "cpu" else m.get("peak_allocated", m.get("allocated"))
            if value is not None:
                peak[device] = max(peak.get(device, 0), int(value))
    times = [t for s in steps if (t := s.get("time_s")) is not None]
    return {
        "steps": len(steps),
        "median_step_s": statistics.median(times) if times else None,
        "peak_memory": peak,
    }


def build_record(
    *,
    name: str,
    command: list[str],
    status: RunStatus,
    exit_code: int | None,
    times: RunTimes,
    environment: EnvironmentSummary,
    steps: list[StepRecord],
    findings: Iterable[Finding | Mapping[str, Any]],
    rank: int = 0,
    pid: int | None = None,
    snapshot: str | None = None,
    summary: Summary | None = None,
    events: str | None = None,
) -> RunRecord:
    """The record of one process; ``summary`` (over every step) wins over one of ``steps``."""
    rank_record: RankRecord = {
        "rank": rank,
        "pid": pid,
        "status": status,
        "exit_code": exit_code,
        "steps": len(steps),
    }
    return {
        "schema": RUN_SCHEMA,
        "name": name,
        "command": command,
        "status": status,
        "exit_code": exit_code,
        "started_at": iso(times.started),
        "ended_at": iso(times.ended),
        "duration_s": round(times.duration_s, 6),
        "environment": environment,
        "world_size": 1,
        "ranks": [rank_record],
        "steps": steps,
        "findings": finding_dicts(findings),
        "artifacts": {"report": "report.html", "snapshot": snapshot, "events": events},
        "summary": summary if summary is not None else summarize(steps),
    }


_SEVERITY: dict[RunStatus, int] = {"oom": 0, "failed": 1, "interrupted": 2, "running": 3, "ok": 4}


def merge_records(
    records: Iterable[RunRecord], *, command: list[str], exit_code: int | None
) -> RunRecord:
    """One record for a multi-rank run: steps and findings of every rank, worst status."""
    ranked = sorted(records, key=lambda r: r["ranks"][0]["rank"])
    if not ranked:
        raise RunError("merge_records needs at least one rank record")
    steps = [s for r in ranked for s in r["steps"]]
    status = min((r["status"] for r in ranked), key=_SEVERITY.__getitem__)
    if exit_code not in (0, None) and status == "ok":
        status = "failed"
    snapshots = [r["artifacts"]["snapshot"] for r in ranked if r["artifacts"].get("snapshot")]
    return {
        **ranked[0],
        "command": command,
        "status": status,
        "exit_code": exit_code,
        "started_at": min(r["started_at"] for r in ranked),
        "ended_at": max(r["ended_at"] for r in ranked),
        "duration_s": max(r["duration_s"] for r in ranked),
        "world_size": len(ranked),
        "ranks": [r["ranks"][0] for r in ranked],
        "steps": steps,
        "findings": [f for r in ranked for f in r["findings"]],
        "artifacts": {
            "report": "report.html",
            "snapshot": snapshots[0] if snapshots else None,
            "events": None,  # each rank's stream is rank-N/events.jsonl
        },
    }


def write_json(path: Path, record: RunRecord) -> None:
    """Replace ``path`` whole and durably: a reader never sees half a record."""
    write_atomic(path, json.dumps(record, indent=1) + "\n")
