"""How a workload ended: its exit code and status, its exception as a finding, its attempt.

:func:`outcome_of` maps an ending to what ``python`` would have done (``SystemExit(3)``
→ 3, Ctrl-C → 130, a signal → 128 + its number, an error → 1 with the traceback Python
prints, torchwarden's own frames left out); :func:`exception_finding` records the error
with the user's line; :func:`attempt_event` is a torchrun rank's ``attempt`` line.
"""

from __future__ import annotations

import signal
import sys
import traceback
from typing import Any

import torch

from torchwarden.findings import ExceptionFinding
from torchwarden.frames import classify, traceback_site
from torchwarden.report.run_record import RunStatus
from torchwarden.runtime.signals import Terminated

__all__ = ["attempt_event", "exception_finding", "how_it_ended", "outcome_of"]

_NOT_USERS = ("torchwarden", "plumbing")  # the runner, runpy: above the workload's own frames


def attempt_event(
    attempt: int,
    event: str,
    rank: int,
    *,
    how: str | None = None,
    step: int | None = None,
    resumed_from: int | None = None,
) -> dict[str, Any]:
    """An ``attempt`` line of ``events.jsonl`` (docs/run-schema.md)."""
    return {"type": "attempt", "attempt": attempt, "event": event, "rank": rank,
            "how": how, "step": step, "resumed_from": resumed_from}  # fmt: skip


def how_it_ended(error: BaseException | None, exit_code: int) -> str:
    if isinstance(error, Terminated):
        return str(signal.Signals(error.signum).name)
    if isinstance(error, KeyboardInterrupt):
        return "SIGINT"
    return f"exit {exit_code}"


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
        return 128 + e.signum, "interrupted"
    _print_user_traceback(e)
    return 1, "oom" if isinstance(e, torch.cuda.OutOfMemoryError) else "failed"


def exception_finding(error: BaseException, *, step: int, rank: int) -> ExceptionFinding:
    """The exception that ended the run, with the user's line where it was raised."""
    site = traceback_site(error.__traceback__)
    kind = type(error)
    exc_type = (
        kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    )
    where = f" at {site.user}" if site.user else ""
    return ExceptionFinding(
        message=f"The run failed with {exc_type}{where}: {error}"[:2000],
        fix=f"Fix the error{where}; its traceback is printed in the run's output.",
        exc_type=exc_type,
        site=site.user,
        library_site=site.library,
        step=step,
        rank=rank,
    )


def _exit_code(e: SystemExit) -> int:
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    print(e.code, file=sys.stderr)  # what Python prints for sys.exit("message")
    return 1


def _print_user_traceback(e: BaseException) -> None:
    """The traceback Python would print: torchwarden's and runpy's frames left out."""
    tb = e.__traceback__
    while tb is not None and classify(tb.tb_frame.f_code.co_filename) in _NOT_USERS:
        tb = tb.tb_next
    traceback.print_exception(type(e), e, tb or e.__traceback__, file=sys.stderr)
