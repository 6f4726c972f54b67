"""What is installed around a governed workload, and undone after it, whatever happens.

:class:`Governance` holds the watchers (step monitor, OOM forensics, progress line,
transfer audit), built before anything is installed; :func:`govern` installs them and
every other hook (the runner's SIGTERM handler, the memory cap, the clean-up of leftover child
processes) into one :class:`~contextlib.ExitStack`, which removes them in reverse order.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from types import FrameType
from typing import Any

import torch
from rich.console import Console

from torchwarden.runtime.config import RunConfig
from torchwarden.runtime.live import LiveRecord
from torchwarden.runtime.oom import OOMForensics
from torchwarden.runtime.progress import Progress
from torchwarden.runtime.steps import StepMonitor

__all__ = ["Governance", "SignalHandler", "govern"]

SignalHandler = Callable[[int, FrameType | None], None]


@dataclass(frozen=True)
class Governance:
    """What watches the workload: steps and leaks, OOMs, and (optionally) transfers.

    Built before anything is installed, so that a run interrupted during set-up still
    has steps (none) and findings (none) to record.
    """

    progress: Progress
    monitor: StepMonitor
    forensics: OOMForensics
    audit: Any | None  # torchwarden.data's Audit, imported only when asked for

    @classmethod
    def for_run(
        cls, config: RunConfig, console: Console, live: LiveRecord | None = None
    ) -> Governance:
        """The watchers of one run; each step goes to the progress line and to ``live``."""
        progress = Progress(console, config.name, enabled=config.progress)

        def on_step(step: dict[str, Any]) -> None:
            findings = monitor.findings
            if live is not None:
                live.step(step, findings)
            progress.update(step, len(findings))

        monitor = StepMonitor(rank=config.rank, leak_check=config.leak_check, on_step=on_step)
        audit = _audit() if config.audit_transfers else None
        forensics = OOMForensics(config.out_dir, config.memory_fraction)
        return cls(progress, monitor, forensics, audit)


def govern(
    stack: ExitStack,
    governance: Governance,
    *,
    memory_fraction: float | None,
    on_sigterm: SignalHandler,
    console: Console,
) -> None:
    """Install every hook, each undone by ``stack``: the last installed is the first removed.

    ``on_sigterm`` replaces the SIGTERM handler while the workload runs (main thread only).
    """
    stack.callback(_reap_children)
    if _main_thread():
        previous = signal.signal(signal.SIGTERM, on_sigterm)
        stack.callback(signal.signal, signal.SIGTERM, previous or signal.SIG_DFL)
    _cap_memory(memory_fraction, console)
    governance.forensics.install()
    stack.enter_context(governance.progress)
    if governance.audit is not None:
        stack.enter_context(governance.audit)
    governance.monitor.start()
    stack.callback(governance.monitor.stop)


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


def _audit() -> Any:
    from torchwarden.data import audit

    return audit()


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
