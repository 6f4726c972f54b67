"""Typed events of a run's stream (``events.jsonl``, schema ``torchwarden.events/1``).

The runtime appends one JSON object per line while a run goes. Anyone who can write
the run directory can write that file, so every field is validated here, once: the
Prometheus exporter, the TensorBoard writer and the web app read only these objects.
A line that does not validate is dropped, never half-read.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EVENTS_SCHEMA",
    "AttemptEvent",
    "Event",
    "FindingEvent",
    "Header",
    "StatusEvent",
    "StepEvent",
    "event_to_dict",
    "parse_event",
    "parse_line",
]

EVENTS_SCHEMA = "torchwarden.events/1"
STATUSES = ("running", "ok", "failed", "interrupted", "oom")
MAX_TEXT = 4096  # a finding's message is a sentence, not a file
MAX_DEVICES = 64  # bounded labels: a line naming more devices is not one of ours
_INT_MAX = 2**63 - 1

Memory = dict[str, dict[str, int]]


@dataclass(frozen=True)
class Header:
    run: str
    started_at: str


@dataclass(frozen=True)
class StepEvent:
    step: int
    rank: int
    t: float
    time_s: float | None
    memory: Memory  # device -> counter -> bytes ("cpu": rss, tensor_bytes; "cuda:N": ...)


@dataclass(frozen=True)
class FindingEvent:
    finding: dict[str, Any]  # Finding.to_dict(): kind, message, fix are checked strings

    @property
    def kind(self) -> str:
        return str(self.finding["kind"])


@dataclass(frozen=True)
class AttemptEvent:
    attempt: int
    event: str  # "start" | "end"
    rank: int | None
    how: str | None
    step: int | None
    resumed_from: int | None


@dataclass(frozen=True)
class StatusEvent:
    status: str
    exit_code: int | None


Event = Header | StepEvent | FindingEvent | AttemptEvent | StatusEvent


def parse_line(line: bytes | str) -> Event | None:
    """One line of ``events.jsonl`` as an event, or ``None`` when it is not a valid one."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return parse_event(data) if isinstance(data, dict) else None


def parse_event(data: dict[str, Any]) -> Event | None:
    """An event dict (as the runtime emits it) as a typed event, or ``None``."""
    try:
        if data.get("schema") == EVENTS_SCHEMA:
            return Header(_text(data.get("run")), _text(data.get("started_at")))
        parser = _PARSERS.get(data.get("type"))
        return parser(data) if parser is not None else None
    except (TypeError, ValueError, KeyError):
        return None


def _step(d: dict[str, Any]) -> StepEvent:
    memory = {} if d.get("memory") is None else d["memory"]
    if not isinstance(memory, dict) or len(memory) > MAX_DEVICES:
        raise ValueError("memory")
    return StepEvent(
        step=_int(d["step"]),
        rank=_int(d.get("rank", 0)),
        t=_seconds(d["t"]),
        time_s=_optional(_seconds, d.get("time_s")),
        memory={_device(k): _counters(v) for k, v in memory.items()},
    )


def _finding(d: dict[str, Any]) -> FindingEvent:
    finding = {k: v for k, v in d.items() if k != "type"}
    for key in ("kind", "message", "fix"):
        finding[key] = _text(finding.get(key, ""))
    if not finding["kind"]:
        raise ValueError("kind")
    for key in ("step", "rank", "nbytes"):
        finding[key] = _optional(_int, finding.get(key))
    return FindingEvent(finding)


def _attempt(d: dict[str, Any]) -> AttemptEvent:
    event = _text(d["event"])
    if event not in ("start", "end"):
        raise ValueError("event")
    return AttemptEvent(
        attempt=_int(d["attempt"]),
        event=event,
        rank=_optional(_int, d.get("rank")),
        how=_optional(_text, d.get("how")),
        step=_optional(_int, d.get("step")),
        resumed_from=_optional(_int, d.get("resumed_from")),
    )


def _status(d: dict[str, Any]) -> StatusEvent:
    status = _text(d["status"])
    if status not in STATUSES:
        raise ValueError("status")
    return StatusEvent(status, _optional(_int, d.get("exit_code")))


_PARSERS: dict[Any, Callable[[dict[str, Any]], Event]] = {
    "step": _step,
    "finding": _finding,
    "attempt": _attempt,
    "status": _status,
}


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > _INT_MAX:
        raise ValueError("int")
    return value


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("seconds")
    if not math.isfinite(value) or value < 0:
        raise ValueError("seconds")
    return float(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("text")
    return value[:MAX_TEXT]


def _device(value: Any) -> str:
    text = _text(value)
    if text != "cpu" and not (text.startswith("cuda:") and text[5:].isdigit()):
        raise ValueError("device")
    return text


def _counters(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ValueError("counters")
    return {_text(k)[:64]: _int(v) for k, v in value.items() if v is not None and _int(v) >= 0}


def _optional(parse: Any, value: Any) -> Any:
    return None if value is None else parse(value)


def event_to_dict(event: Event) -> dict[str, Any]:
    """The JSON form of a typed event, as the stream writes it (for browsers and tools)."""
    if isinstance(event, Header):
        return {"schema": EVENTS_SCHEMA, "run": event.run, "started_at": event.started_at}
    if isinstance(event, FindingEvent):
        return {"type": "finding", **event.finding}
    kind = {StepEvent: "step", AttemptEvent: "attempt", StatusEvent: "status"}[type(event)]
    return {"type": kind, **dataclasses.asdict(event)}
