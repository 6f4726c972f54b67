"""Many processes: launch the workload through torchrun, govern every rank, merge records.

Each rank runs ``python -m torchwarden.runtime.worker``, which governs the workload in
that process and writes ``rank-N/run.json``; the parent merges them into one record and
one report when torchrun returns. torchrun's elastic agent and c10d rendezvous do the
launching, restarting and addressing.

The launcher starts torchrun first and loads what it needs afterwards: it never imports
torch (torchrun and every rank do), and what merges the records is imported while
torchrun starts the ranks. Each import before ``Popen`` delays every rank's start.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from torchwarden.errors import RunError
from torchwarden.runtime.config import CONFIG_VAR, RunConfig
from torchwarden.runtime.rank_events import RankFollower
from torchwarden.runtime.signals import SIGNALS
from torchwarden.runtime.stream import EventSink
from torchwarden.runtime.worker import worker_argv
from torchwarden.runtime.workload import Workload

if TYPE_CHECKING:
    from torchwarden.report.run_record import RunRecord
    from torchwarden.runtime.finish import RunOutcome

__all__ = ["LaunchConfig", "launch"]

# Modules that merge the ranks' records: imported once torchrun runs (``_wait``).
_MERGING = (
    "torchwarden.runtime.attempts",
    "torchwarden.runtime.record",
    "torchwarden.runtime.finish",
)


@dataclass(frozen=True)
class LaunchConfig:
    nproc_per_node: int
    nnodes: str = "1"
    rdzv_endpoint: str | None = None
    max_restarts: int = 0

    def __post_init__(self) -> None:
        if self.nproc_per_node < 1:
            raise RunError(f"--nproc-per-node must be at least 1, got {self.nproc_per_node}.")
        if self.max_restarts < 0:
            raise RunError(f"--max-restarts must be 0 or more, got {self.max_restarts}.")

    def torchrun_args(self) -> list[str]:
        args = [f"--nproc-per-node={self.nproc_per_node}", f"--nnodes={self.nnodes}"]
        if self.rdzv_endpoint:
            args += ["--rdzv-backend=c10d", f"--rdzv-endpoint={self.rdzv_endpoint}"]
        else:
            args += ["--standalone"]
        return [*args, f"--max-restarts={self.max_restarts}"]


def _rank_records(out_dir: Path) -> list[RunRecord]:
    return [
        json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(out_dir.glob("rank-*/run.json"))
    ]


def _torchrun_env(env: dict[str, str], run: RunConfig) -> dict[str, str]:
    # Restarted workers must not meet in the failed attempt's store: torchrun's shared
    # rendezvous TCP store keeps the dead workers' addresses, and gloo's full mesh then
    # gets "connection refused". One store per attempt lets --max-restarts recover.
    return {
        "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1",
        **os.environ,
        **env,
        CONFIG_VAR: run.to_json(),
    }


def launch(
    workload: Workload,
    run: RunConfig,
    launch_cfg: LaunchConfig,
    env: dict[str, str],
    *,
    sinks: Sequence[EventSink] = (),
) -> RunOutcome:
    """Run torchrun, forward the signals that end a run to it, then merge the ranks' records.

    While the ranks run, their steps and findings go to ``sinks`` (the run's index row).
    """
    run.out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "torch.distributed.run", *launch_cfg.torchrun_args()]
    started, t0 = time.time(), time.perf_counter()
    proc = subprocess.Popen([*cmd, *worker_argv(workload)], env=_torchrun_env(env, run))
    exit_code, forwarded = _wait(proc, run.out_dir, sinks)
    from torchwarden.runtime.finish import RunOutcome, finish

    command = ["torchwarden", "run", f"--nproc-per-node={launch_cfg.nproc_per_node}",
               *workload.command[1:]]  # fmt: skip
    record = _merged_record(run, command, exit_code, (started, t0))
    if forwarded:
        record["status"] = "interrupted"
    finish(record, run, Console(stderr=True))
    return RunOutcome(exit_code, record["status"], record, run.out_dir)


def _wait(
    proc: subprocess.Popen[bytes], out_dir: Path, sinks: Sequence[EventSink]
) -> tuple[int, list[int]]:
    """torchrun's exit code, and the signals forwarded to it meanwhile; the ranks' events
    go to ``sinks`` as they come."""
    forwarded: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        forwarded.append(signum)
        proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in SIGNALS}
    try:
        # what merges the records is loaded while torchrun starts the ranks, not before
        for name in _MERGING:
            importlib.import_module(name)
        with RankFollower(out_dir, sinks):
            return proc.wait(), forwarded
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _merged_record(
    run: RunConfig, command: list[str], exit_code: int, clocks: tuple[float, float]
) -> RunRecord:
    """The ranks' records as one, with the attempts torchrun made.

    ``clocks`` are the wall and monotonic clocks when torchrun started.
    """
    from torchwarden.runtime.attempts import attempts_of
    from torchwarden.runtime.record import RunTimes, build_record, merge_records

    records = _rank_records(run.out_dir)
    if records:
        record = merge_records(records, command=command, exit_code=exit_code)
    else:  # torchrun failed before any rank wrote a record
        from torchwarden.runtime.environment import environment_summary

        started, t0 = clocks
        times = RunTimes(started, time.time(), time.perf_counter() - t0)
        record = build_record(
            name=run.name, command=command, status="failed", exit_code=exit_code,
            times=times, environment=environment_summary(), steps=[], findings=[],
        )  # fmt: skip
    attempts = attempts_of(run.out_dir)
    if attempts:
        record["attempts"] = attempts
    return record
