"""Run one workload in this process, governed, and write its record and report.

The workload runs with ``__main__`` semantics (``sys.argv``, ``sys.path[0]``, exit
code), so ``torchwarden run train.py`` behaves like ``python train.py``. Steps,
leaks and OOMs are observed through hooks; nothing in the script changes.

:func:`run_in_process` is three steps, each its own function: set-up
(:func:`~torchwarden.runtime.hooks.govern` enters every hook into one
:class:`~contextlib.ExitStack`, which undoes them in reverse whatever happens),
outcome mapping (:func:`~torchwarden.runtime.outcome.outcome_of`: how the workload
ended, as a status and an exit code) and record building (:func:`_record`), which
streams as the run goes (:mod:`~torchwarden.runtime.live`).
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.console import Console

from torchwarden.findings import Finding
from torchwarden.report.run_record import RunRecord, RunStatus
from torchwarden.runtime.config import RunConfig
from torchwarden.runtime.environment import environment_summary
from torchwarden.runtime.exporters import open_exporters
from torchwarden.runtime.finish import RunOutcome, finish
from torchwarden.runtime.hooks import Governance, govern
from torchwarden.runtime.live import LiveRecord, on_leave, resumed_from
from torchwarden.runtime.outcome import (
    attempt_event,
    exception_finding,
    how_it_ended,
    outcome_of,
)
from torchwarden.runtime.record import RunTimes, build_record, write_json
from torchwarden.runtime.series import StepSeries
from torchwarden.runtime.signals import run_signals
from torchwarden.runtime.stream import EVENTS, EventSink, EventStream
from torchwarden.runtime.workload import Workload

__all__ = [
    "RunOutcome",
    "attempt_event",
    "exception_finding",
    "finish",
    "outcome_of",
    "run_in_process",
]


def run_in_process(
    workload: Workload,
    config: RunConfig,
    *,
    attempt: int | None = None,
    sinks: Sequence[EventSink] = (),
) -> RunOutcome:
    """Run ``workload`` governed; return its exit code, status and record.

    The record streams to ``events.jsonl`` as the run goes and ``run.json`` is rewritten
    every few seconds, so even a SIGKILL leaves evidence; every other ending writes the
    final record, whatever signals arrive meanwhile. ``attempt`` (a torchrun rank's
    restart count) is streamed as the attempt's start and end.
    """
    console = Console(stderr=True)
    signals = run_signals()
    ours = not signals.installed  # the command line installs them earlier, and undoes them
    signals.install()
    config.out_dir.mkdir(parents=True, exist_ok=True)
    started, t0 = time.time(), time.perf_counter()

    def snapshot() -> RunRecord:
        times = RunTimes(started, time.time(), time.perf_counter() - t0)
        return _record(workload, config, governance, "running", None, times, live.series)

    exporters = open_exporters(config)
    stream = EventStream(config.out_dir, config.name, sinks=[*sinks, *exporters]).open(started)
    live = LiveRecord(stream, snapshot, lambda r: write_json(config.out_dir / "run.json", r))
    if attempt is not None:
        stream.emit(attempt_event(attempt, "start", config.rank))
    governance = Governance.for_run(config, console, live)

    def leave(signum: int) -> None:  # the process exits without unwinding: record it now
        if attempt is not None:
            how = signal.Signals(signum).name
            stream.emit(attempt_event(attempt, "end", config.rank, how=how,
                                      step=live.series.count, resumed_from=resumed_from()))  # fmt: skip
            stream.flush()
        times = RunTimes(started, time.time(), time.perf_counter() - t0)
        code = 128 + signum
        record = _record(workload, config, governance, "interrupted", code, times, live.series)
        live.finish(record["findings"], "interrupted", code)
        finish(record, config, console, problems=[stream.error, live.error])

    on_leave(leave)
    status: RunStatus = "ok"
    exit_code, error = 0, None
    try:
        signals.arm()  # a signal that came during start-up ends the run here
        with ExitStack() as stack:
            govern(stack, governance, memory_fraction=config.memory_fraction,
                   on_sigterm=signals.handler, console=console)  # fmt: skip
            try:
                _execute(workload)
            finally:
                signals.defer()  # from here on, the record and the exit code win
    except BaseException as e:  # every ending, Ctrl-C and SystemExit included, is recorded
        signals.defer()
        (exit_code, status), error = outcome_of(e), e
    on_leave(None)
    if attempt is not None:  # first and flushed: torchrun SIGKILLs a rank slow to leave
        how = how_it_ended(error, exit_code)
        stream.emit(attempt_event(attempt, "end", config.rank, how=how, step=live.series.count,
                                  resumed_from=resumed_from()))  # fmt: skip
        stream.flush()
    times = RunTimes(started, time.time(), time.perf_counter() - t0)
    record = _record(workload, config, governance, status, exit_code, times, live.series, error)
    live.finish(record["findings"], record["status"], exit_code)
    finish(record, config, console, problems=[stream.error, live.error])
    for exporter in exporters:
        exporter.close()
    if ours:
        signals.uninstall()
    return RunOutcome(exit_code, record["status"], record, config.out_dir)


def _record(
    workload: Workload,
    config: RunConfig,
    governance: Governance,
    status: RunStatus,
    exit_code: int | None,
    times: RunTimes,
    series: StepSeries,
    error: BaseException | None = None,
) -> RunRecord:
    """The run's record: its steps, every finding (the OOM first), and where it ran."""
    monitor, forensics = governance.monitor, governance.forensics
    findings: list[Finding | dict[str, Any]] = list(monitor.findings)
    if governance.audit is not None:
        findings += [{**f, "rank": config.rank} for f in governance.audit.summary()["findings"]]
    if forensics.finding is not None:
        findings.insert(0, forensics.finding.replace(step=series.count + 1, rank=config.rank))
        if status == "failed":  # an OOM the script caught and turned into another error
            status = "oom"
    elif error is not None and status == "failed" and not isinstance(error, SystemExit):
        findings.insert(0, exception_finding(error, step=series.count + 1, rank=config.rank))
    record = build_record(
        name=config.name,
        command=workload.command,
        status=status,
        exit_code=exit_code,
        times=times,
        environment=environment_summary(),
        steps=series.steps(),
        findings=findings,
        rank=config.rank,
        pid=os.getpid(),
        snapshot=forensics.snapshot_path.name if forensics.snapshot_path else None,
        summary=series.summary(),
        events=EVENTS,
    )
    record["summary"]["step_source"] = monitor.step_source  # how steps were detected
    if monitor.leak_check:
        record["summary"]["examinations"] = monitor.examinations
    if (note := monitor.evidence_note) is not None:
        record["summary"]["evidence_note"] = note
    return record


def _execute(workload: Workload) -> None:
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = workload.argv
    try:
        if workload.kind == "module":
            sys.path.insert(0, os.getcwd())
            runpy.run_module(workload.target, run_name="__main__", alter_sys=True)
        else:
            sys.path.insert(0, str(Path(workload.target).resolve().parent))
            runpy.run_path(workload.target, run_name="__main__")
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
