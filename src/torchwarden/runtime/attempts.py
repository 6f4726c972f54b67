"""The attempts of a run restarted by torchrun, read back from the ranks' streams.

Each rank streams an ``attempt`` start when it begins and an ``attempt`` end (how it
ended, steps done) when it leaves, to ``rank-N/events.jsonl``, which a restarted rank
appends to. A rank SIGKILLed (or killed by the OOM killer) writes no end: that absence
names the rank whose death ended the attempt, and its last streamed steps say where.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torchwarden.errors import RunError
from torchwarden.metrics.events import AttemptEvent, StepEvent
from torchwarden.report.run_record import AttemptRecord
from torchwarden.runtime.recover import read_events
from torchwarden.runtime.stream import EVENTS

__all__ = ["KILLED", "attempts_of"]

KILLED = "killed (no record: SIGKILL or the OOM killer)"


@dataclass
class _Seen:
    steps: dict[int, int] = field(default_factory=dict)  # rank -> steps in this attempt
    ends: dict[int, tuple[str | None, int | None]] = field(default_factory=dict)
    resumed_from: int | None = None


def attempts_of(out_dir: Path) -> list[AttemptRecord]:
    """Every attempt of the run in ``out_dir``, in order; empty when none was streamed."""
    seen: dict[int, _Seen] = {}
    for path in sorted(out_dir.glob(f"rank-*/{EVENTS}")):
        _read_rank(path, seen)
    return [_attempt(n, seen[n], last=n == max(seen)) for n in sorted(seen)]


def _read_rank(path: Path, seen: dict[int, _Seen]) -> None:
    current: _Seen | None = None
    rank: int | None = None
    try:
        events = list(read_events(path))
    except (OSError, RunError):
        return
    for event in events:
        if isinstance(event, AttemptEvent) and event.rank is not None:
            current, rank = seen.setdefault(event.attempt, _Seen()), event.rank
            if event.event == "start":
                current.steps[rank] = 0
            else:
                current.ends[rank] = (event.how, event.step)
            if event.resumed_from is not None:
                current.resumed_from = event.resumed_from
        elif isinstance(event, StepEvent) and current is not None and rank is not None:
            current.steps[rank] = current.steps.get(rank, 0) + 1


def _attempt(number: int, seen: _Seen, *, last: bool) -> AttemptRecord:
    """Who ended the attempt: a rank with no end (killed), else one that failed first."""
    silent = sorted(set(seen.steps) - set(seen.ends))
    failed = [r for r, (how, _) in sorted(seen.ends.items()) if how not in ("exit 0", "SIGTERM")]
    rank = silent[0] if silent else (failed[0] if failed and not last else None)
    how = KILLED if silent else (seen.ends[rank][0] if rank is not None else None)
    return {
        "attempt": number,
        "ranks": len(seen.steps),
        "failed_rank": rank,
        "how": how,
        "step": seen.steps.get(rank) if rank is not None else None,
        "resumed_from": seen.resumed_from,
    }
