"""The live progress line while a run is governed, and the summary at its end."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from torchwarden.report.run_record import RunRecord
from torchwarden.units import format_bytes, format_seconds

__all__ = ["Progress", "print_summary"]


def _memory_text(memory: dict[str, Any]) -> str:
    parts = []
    for device, m in memory.items():
        if device == "cpu":
            parts.append(f"cpu rss {format_bytes(m.get('rss'))}")
        else:
            parts.append(
                f"{device} {format_bytes(m.get('allocated'))}/{format_bytes(m.get('reserved'))}"
            )
    return "  ".join(parts)


class Progress:
    """A status line under the workload's own output; silent when stderr is not a terminal."""

    def __init__(self, console: Console, name: str, enabled: bool = True) -> None:
        self.console = console
        self.name = name
        self.enabled = enabled and console.is_terminal
        self._live: Live | None = None
        self._next = 0.0
        self._findings = 0

    def __enter__(self) -> Progress:
        if self.enabled:
            self._live = Live(
                Text(f"torchwarden: {self.name} starting"),
                console=self.console,
                refresh_per_second=4,
                transient=True,
                redirect_stdout=True,
                redirect_stderr=True,
            )
            self._live.__enter__()
        return self

    def update(self, step: dict[str, Any], findings: int) -> None:
        now = time.monotonic()
        if self._live is None or now < self._next:
            return
        self._next = now + 0.25  # redrawing faster than the eye reads would cost step time
        text = (
            f"torchwarden: {self.name}  step {step['step']}  "
            f"{format_seconds(step['time_s'])}/step  {_memory_text(step['memory'])}"
        )
        if findings:
            text += f"  [{findings} finding(s)]"
        self._live.update(Text(text))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)


def print_summary(console: Console, record: RunRecord, out_dir: str) -> None:
    status = record["status"]
    colour = {"ok": "green", "failed": "red", "oom": "red"}.get(status, "yellow")
    summary = record["summary"]
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("status", f"[{colour}]{status}[/] (exit code {record['exit_code']})")
    source = summary.get("step_source")
    table.add_row("steps", f"{summary['steps']} ({source})" if source else str(summary["steps"]))
    if summary["median_step_s"] is not None:
        table.add_row("median step", format_seconds(summary["median_step_s"]))
    for device, peak in summary["peak_memory"].items():
        table.add_row(f"peak {device}", format_bytes(peak))
    # what the run saw too little to claim (no step ended, too few examinations, no leak
    # check) is said where an all-clear would otherwise stand
    note = summary.get("evidence_note")
    count = str(len(record["findings"]))
    if note and not record["findings"] and not summary["steps"]:
        table.add_row("findings", escape(note))
    else:
        table.add_row("findings", f"{count} — {escape(note)}" if note else count)
    table.add_row("record", f"{out_dir}/run.json")
    if record["artifacts"].get("report"):
        table.add_row("report", f"{out_dir}/{record['artifacts']['report']}")
    console.print(f"[bold]torchwarden run[/] {record['name']}", highlight=False)
    console.print(table)
    for f in record["findings"][:5]:
        # findings quote the script's errors and paths: text, never markup
        console.print(f"[bold]{escape(f['kind'])}[/]: {escape(f['message'])}", highlight=False)
        console.print(f"  fix: {escape(f['fix'])}", highlight=False)
