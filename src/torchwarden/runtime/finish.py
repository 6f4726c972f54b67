"""The end of a run: write ``run.json`` and ``report.html``, print the summary.

Shared by a run in this process (``runner.py``) and by the launcher of a
``--nproc-per-node`` run (``launch.py``). It imports no torch: the launcher only starts
torchrun and merges the ranks' records, and importing torch there would delay every
rank's start by seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from torchwarden.errors import RecordWriteError, ReportError
from torchwarden.report.run_record import RunRecord, RunStatus
from torchwarden.runtime.config import RunConfig
from torchwarden.runtime.progress import print_summary
from torchwarden.runtime.record import write_json

__all__ = ["RunOutcome", "finish"]


@dataclass(frozen=True)
class RunOutcome:
    exit_code: int
    status: RunStatus
    record: RunRecord
    out_dir: Path


def finish(
    record: RunRecord,
    config: RunConfig,
    console: Console,
    problems: list[RecordWriteError | None] | None = None,
) -> None:
    """Write run.json and report.html, then print the summary and what could not be written.

    A full disk is reported, never raised: the script's exit code is the one ``run`` returns.
    """
    if not config.report:
        record["artifacts"]["report"] = None
    errors: list[Exception] = [p for p in problems or [] if p is not None]
    try:
        write_json(config.out_dir / "run.json", record)
        if config.report:
            from torchwarden.report import write_report

            write_report(record, config.out_dir / "report.html")
    except (RecordWriteError, ReportError) as error:
        errors.append(error)
    if config.summary:
        print_summary(console, record, str(config.out_dir))
    for problem in errors:
        console.print(f"torchwarden: error: {problem}", highlight=False, markup=False)
