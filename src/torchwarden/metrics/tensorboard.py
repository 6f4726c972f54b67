"""The same per-step series and findings, written for TensorBoard (``torch.utils.tensorboard``).

Fed from the typed events, as the Prometheus exporter is: step time and memory per rank
and device as scalars, each finding as text at the step it was found. Needs the
``tensorboard`` package (``pip install 'torchwarden[tensorboard]'``).
"""

from __future__ import annotations

import html
from pathlib import Path
from types import TracebackType
from typing import Any

from torchwarden.errors import RunError
from torchwarden.metrics.events import (
    AttemptEvent,
    Event,
    FindingEvent,
    StatusEvent,
    StepEvent,
    parse_event,
)
from torchwarden.metrics.rundir import EventTail

__all__ = ["TensorBoardWriter", "write_tensorboard"]


class TensorBoardWriter:
    """Writes events into a TensorBoard log directory; :meth:`close` flushes."""

    def __init__(self, log_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise RunError(
                "--tensorboard needs the tensorboard package: pip install 'torchwarden[tensorboard]'."
            ) from None
        self._writer = SummaryWriter(log_dir=str(log_dir))
        self._last_step = 0

    def observe(self, event: Event | dict[str, Any]) -> None:
        """Take one event: a typed one, or the dict the runtime writes to ``events.jsonl``."""
        parsed = parse_event(event) if isinstance(event, dict) else event
        if isinstance(parsed, StepEvent):
            self._step(parsed)
        elif isinstance(parsed, FindingEvent):
            step = parsed.finding.get("step") or self._last_step
            self._writer.add_text(f"findings/{parsed.kind}", _markdown(parsed.finding), step)
        elif isinstance(parsed, AttemptEvent):
            text = f"attempt {parsed.attempt} {parsed.event}" + (
                f": {parsed.how}" if parsed.how else ""
            )
            self._writer.add_text("attempts", html.escape(text), parsed.step or self._last_step)
        elif isinstance(parsed, StatusEvent):
            self._writer.add_text(
                "status", f"{parsed.status} (exit code {parsed.exit_code})", self._last_step
            )

    def _step(self, event: StepEvent) -> None:
        self._last_step = max(self._last_step, event.step)
        rank = f"rank{event.rank}"
        if event.time_s is not None:
            self._writer.add_scalar(f"step_time_seconds/{rank}", event.time_s, event.step)
        for device, counters in event.memory.items():
            for counter, value in counters.items():
                tag = f"memory_bytes/{device}/{counter}/{rank}"
                self._writer.add_scalar(tag, value, event.step)

    def close(self) -> None:
        self._writer.flush()
        self._writer.close()

    def __enter__(self) -> TensorBoardWriter:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _markdown(finding: dict[str, Any]) -> str:
    # TensorBoard renders text as Markdown with HTML allowed: escape what the run wrote
    lines = [f"**{html.escape(finding['kind'])}**: {html.escape(finding['message'])}"]
    for key in ("holder", "site", "fix"):
        if isinstance(finding.get(key), str) and finding[key]:
            lines.append(f"- {key}: `{html.escape(finding[key])}`")
    return "\n".join(lines)


def write_tensorboard(out_dir: Path, log_dir: Path) -> int:
    """Convert a finished run directory's ``events.jsonl``; the number of events written."""
    tail, count = EventTail(out_dir, uid=None), 0
    with TensorBoardWriter(log_dir) as writer:
        while events := tail.poll():
            for event in events:
                writer.observe(event)
            count += len(events)
    return count
