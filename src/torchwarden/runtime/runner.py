"""Run one workload in this process, governed, and write its record and report.

The workload runs with ``__main__`` semantics (``sys.argv``, ``sys.path[0]``, exit
code), so ``torchwarden run train.py`` behaves like ``python train.py``. Steps,
leaks and OOMs are observed through hooks; nothing in the script changes.

:func:`run_in_process` is three steps, each its own function: set-up
(:func:`~torchwarden.runtime.hooks.govern` enters every hook into one
:class:`~contextlib.ExitStack`, which undoes them in reverse whatever happens),
outcome mapping (:func:`outcome_of`: how the workload ended, as a status and an exit
code) and record building (:func:`_record`).
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import time
import traceback
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, cast

import torch
from rich.console import Console

from torchwarden.findings import Finding
from torchwarden.frames import classify
from torchwarden.report.run_record import RunRecord, RunStatus, StepRecord
from torchwarden.runtime.config import RunConfig
from torchwarden.runtime.environment import environment_summary
from torchwarden.runtime.hooks import Governance, govern
from torchwarden.runtime.progress import print_summary
from torchwarden.runtime.record import RunTimes, build_record, write_json
from torchwarden.runtime.workload import Workload

__all__ = ["RunOutcome", "finish", "outcome_of", "run_in_process"]


_NOT_USERS = ("torchwarden", "plumbing")  # the runner, runpy: above the workload's own frames


class Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C so the record is still written."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@dataclass(frozen=True)
class RunOutcome:
    exit_code: int
    status: RunStatus
    record: RunRecord
    out_dir: Path


def run_in_process(workload: Workload, config: RunConfig) -> RunOutcome:
    """Run ``workload`` governed; return its exit code, status and record."""
    console = Console(stderr=True)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    governance = Governance.for_run(config, console)
    started, t0 = time.time(), time.perf_counter()
    status: RunStatus = "ok"
    exit_code = 0
    try:
        with ExitStack() as stack:
            govern(
                stack,
                governance,
                memory_fraction=config.memory_fraction,
                on_sigterm=_terminate,
                console=console,
            )
            _execute(workload)
    except BaseException as e:  # every ending, Ctrl-C and SystemExit included, is recorded
        exit_code, status = outcome_of(e)
    times = RunTimes(started, time.time(), time.perf_counter() - t0)
    record = _record(workload, config, governance, status, exit_code, times)
    finish(record, config, console)
    return RunOutcome(exit_code, record["status"], record, config.out_dir)


def outcome_of(e: BaseException) -> tuple[int, RunStatus]:
    """How an exception ended the workload: ``(exit code, status)``, as ``python`` would exit.

    Errors print the traceback Python would print (without torchwarden's frames).
    """
    if isinstance(e, SystemExit):
        code = _exit_code(e)
        return code, "ok" if code == 0 else "failed"
    if isinstance(e, KeyboardInterrupt):
        return 130, "interrupted"
    if isinstance(e, Terminated):
        return 128 + signal.SIGTERM, "interrupted"
    _print_user_traceback(e)
    return 1, "oom" if isinstance(e, torch.cuda.OutOfMemoryError) else "failed"


def _record(
    workload: Workload,
    config: RunConfig,
    governance: Governance,
    status: RunStatus,
    exit_code: int,
    times: RunTimes,
) -> RunRecord:
    """The run's record: its steps, every finding (the OOM first), and where it ran."""
    monitor, forensics = governance.monitor, governance.forensics
    findings: list[Finding | dict[str, Any]] = list(monitor.findings)
    if governance.audit is not None:
        findings += [{**f, "rank": config.rank} for f in governance.audit.summary()["findings"]]
    if forensics.finding is not None:
        step = len(monitor.steps) + 1
        findings.insert(0, forensics.finding.replace(step=step, rank=config.rank))
        if status == "failed":  # an OOM the script caught and turned into another error
            status = "oom"
    record = build_record(
        name=config.name,
        command=workload.command,
        status=status,
        exit_code=exit_code,
        times=times,
        environment=environment_summary(),
        steps=cast(list[StepRecord], monitor.steps),
        findings=findings,
        rank=config.rank,
        pid=os.getpid(),
        snapshot=forensics.snapshot_path.name if forensics.snapshot_path else None,
    )
    record["summary"]["step_source"] = monitor.step_source  # how steps were detected
    return record


def _exit_code(e: SystemExit) -> int:
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    print(e.code, file=sys.stderr)  # what Python prints for sys.exit("message")
    return 1


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


def _print_user_traceback(e: BaseException) -> None:
    """The traceback Python would print: torchwarden's and runpy's frames left out."""
    tb = e.__traceback__
    while tb is not None and classify(tb.tb_frame.f_code.co_filename) in _NOT_USERS:
        tb = tb.tb_next
    traceback.print_exception(type(e), e, tb or e.__traceback__, file=sys.stderr)


def finish(record: RunRecord, config: RunConfig, console: Console) -> None:
    """Write run.json and report.html, then print the summary."""
    if not config.report:
        record["artifacts"]["report"] = None
    write_json(config.out_dir / "run.json", record)
    if config.report:
        from torchwarden.report import write_report

        write_report(record, config.out_dir / "report.html")
    if config.summary:
        print_summary(console, record, str(config.out_dir))
