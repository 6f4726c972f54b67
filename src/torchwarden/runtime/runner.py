"""Run one workload in this process, governed, and write its record and report.

The workload runs with ``__main__`` semantics (``sys.argv``, ``sys.path[0]``, exit
code), so ``torchwarden run train.py`` behaves like ``python train.py``. Steps,
leaks and OOMs are observed through hooks; nothing in the script changes.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from rich.console import Console

from torchwarden.errors import RunError
from torchwarden.runtime.environment import environment_summary
from torchwarden.runtime.oom import OOMForensics
from torchwarden.runtime.progress import Progress, print_summary
from torchwarden.runtime.record import build_record, write_json
from torchwarden.runtime.steps import StepMonitor
from torchwarden.runtime.workload import Workload

__all__ = ["RunConfig", "RunOutcome", "run_in_process"]


class Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C so the record is still written."""


@dataclass(frozen=True)
class RunConfig:
    out_dir: Path
    name: str
    leak_check: bool = True
    memory_fraction: float | None = None
    progress: bool = True
    report: bool = True
    rank: int = 0
    summary: bool = True
    audit_transfers: bool = False

    def __post_init__(self) -> None:
        if self.memory_fraction is not None and not 0.0 < self.memory_fraction <= 1.0:
            raise RunError(
                f"--memory-fraction must be in (0, 1], got {self.memory_fraction}: it is the "
                "share of each GPU's memory this run may use (0.5 = half)."
            )


@dataclass(frozen=True)
class RunOutcome:
    exit_code: int
    status: str
    record: dict[str, Any]
    out_dir: Path


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
    """The traceback Python would print: frames of the runner and runpy left out."""
    tb = e.__traceback__
    here = os.path.dirname(os.path.dirname(__file__))
    while tb is not None and (
        tb.tb_frame.f_code.co_filename.startswith(here) or "runpy" in tb.tb_frame.f_code.co_filename
    ):
        tb = tb.tb_next
    traceback.print_exception(type(e), e, tb or e.__traceback__, file=sys.stderr)


def _cap_memory(fraction: float | None, console: Console) -> None:
    if fraction is None:
        return
    if not torch.cuda.is_available():
        console.print(
            "[yellow]torchwarden: --memory-fraction ignored: no CUDA device is visible.[/]"
        )
        return
    for i in range(torch.cuda.device_count()):
        torch.cuda.set_per_process_memory_fraction(fraction, i)


def _reap_children() -> None:
    """Stop processes the workload started and left behind (they would hold GPU memory)."""
    try:
        import psutil
    except ImportError:
        return
    children = psutil.Process().children(recursive=True)
    for child in children:
        child.terminate()
    _, alive = psutil.wait_procs(children, timeout=3)
    for child in alive:
        child.kill()


def run_in_process(workload: Workload, config: RunConfig) -> RunOutcome:
    """Run ``workload`` governed; return its exit code, status and record."""
    console = Console(stderr=True)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    forensics = OOMForensics(config.out_dir)
    started, t0 = time.time(), time.perf_counter()
    exit_code, status = 0, "ok"
    previous = signal.getsignal(signal.SIGTERM) if _main_thread() else None

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    if _main_thread():
        signal.signal(signal.SIGTERM, on_sigterm)
    _cap_memory(config.memory_fraction, console)
    forensics.install()
    progress = Progress(console, config.name, enabled=config.progress)
    monitor = StepMonitor(
        rank=config.rank,
        leak_check=config.leak_check,
        on_step=(lambda s: progress.update(s, len(monitor.findings))) if progress.enabled else None,
    )
    audit = _start_audit() if config.audit_transfers else None
    try:
        with progress:
            monitor.start()
            try:
                _execute(workload)
            finally:
                monitor.stop()
                if audit is not None:
                    audit.__exit__(None, None, None)
    except SystemExit as e:
        exit_code = _exit_code(e)
        status = "ok" if exit_code == 0 else "failed"
    except torch.cuda.OutOfMemoryError as e:
        _print_user_traceback(e)
        exit_code, status = 1, "oom"
    except KeyboardInterrupt:
        exit_code, status = 130, "interrupted"
    except Terminated:
        exit_code, status = 128 + signal.SIGTERM, "interrupted"
    except BaseException as e:
        _print_user_traceback(e)
        exit_code, status = 1, "failed"
    finally:
        if _main_thread():
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)
        _reap_children()
    ended = time.time()
    findings = list(monitor.findings)
    if audit is not None:
        findings += [{**f, "rank": config.rank} for f in audit.summary()["findings"]]
    if forensics.finding is not None:
        findings.insert(
            0, {**forensics.finding, "step": len(monitor.steps) + 1, "rank": config.rank}
        )
        if status == "failed":
            status = "oom"
    record = build_record(
        name=config.name,
        command=workload.command,
        status=status,
        exit_code=exit_code,
        started=started,
        ended=ended,
        duration_s=time.perf_counter() - t0,
        environment=environment_summary(),
        steps=monitor.steps,
        findings=findings,
        rank=config.rank,
        pid=os.getpid(),
        snapshot=forensics.snapshot_path.name if forensics.snapshot_path else None,
    )
    record["summary"]["step_source"] = monitor.step_source  # how steps were detected
    finish(record, config, console)
    return RunOutcome(exit_code, status, record, config.out_dir)


def finish(record: dict[str, Any], config: RunConfig, console: Console) -> None:
    """Write run.json and report.html, then print the summary."""
    if not config.report:
        record["artifacts"]["report"] = None
    write_json(config.out_dir / "run.json", record)
    if config.report:
        from torchwarden.report import write_report

        write_report(record, config.out_dir / "report.html")
    if config.summary:
        print_summary(console, record, str(config.out_dir))


def _start_audit() -> Any:
    from torchwarden.data import audit

    a = audit()
    a.__enter__()
    return a


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
