"""Assemble ``run.json`` (schema ``torchwarden.run/1``, docs/run-schema.md) and merge ranks."""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from torchwarden.errors import RunError
from torchwarden.report import RUN_SCHEMA

__all__ = ["build_record", "iso", "merge_records", "summarize", "write_json"]


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def summarize(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Steps, median step time and the peak memory seen per device."""
    peak: dict[str, int] = {}
    for s in steps:
        for device, m in s.get("memory", {}).items():
            value = m.get("rss") if device == "cpu" else m.get("peak_allocated", m.get("allocated"))
            if value is not None:
                peak[device] = max(peak.get(device, 0), int(value))
    times = [s["time_s"] for s in steps if s.get("time_s") is not None]
    return {
        "steps": len(steps),
        "median_step_s": statistics.median(times) if times else None,
        "peak_memory": peak,
    }


def build_record(
    *,
    name: str,
    command: list[str],
    status: str,
    exit_code: int | None,
    started: float,
    ended: float,
    duration_s: float,
    environment: dict[str, Any],
    steps: list[dict[str, Any]],
    findings: list[dict[str, Any]],
    rank: int = 0,
    pid: int | None = None,
    snapshot: str | None = None,
) -> dict[str, Any]:
    return {
        "schema": RUN_SCHEMA,
        "name": name,
        "command": command,
        "status": status,
        "exit_code": exit_code,
        "started_at": iso(started),
        "ended_at": iso(ended),
        "duration_s": round(duration_s, 6),
        "environment": environment,
        "world_size": 1,
        "ranks": [
            {
                "rank": rank,
                "pid": pid,
                "status": status,
                "exit_code": exit_code,
                "steps": len(steps),
            }
        ],
        "steps": steps,
        "findings": findings,
        "artifacts": {"report": "report.html", "snapshot": snapshot},
        "summary": summarize(steps),
    }


_SEVERITY = {"oom": 0, "failed": 1, "interrupted": 2, "ok": 3}


def merge_records(
    records: Iterable[dict[str, Any]], *, command: list[str], exit_code: int | None
) -> dict[str, Any]:
    """One record for a multi-rank run: steps and findings of every rank, worst status."""
    ranked = sorted(records, key=lambda r: r["ranks"][0]["rank"])
    if not ranked:
        raise RunError("merge_records needs at least one rank record")
    first = ranked[0]
    steps = [s for r in ranked for s in r["steps"]]
    status = min((r["status"] for r in ranked), key=_SEVERITY.__getitem__)
    if exit_code not in (0, None) and status == "ok":
        status = "failed"
    snapshots = [r["artifacts"].get("snapshot") for r in ranked if r["artifacts"].get("snapshot")]
    return {
        **first,
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
        "artifacts": {"report": "report.html", "snapshot": snapshots[0] if snapshots else None},
        "summary": summarize([s for s in steps if s["rank"] == 0]),
    }


def write_json(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a record
