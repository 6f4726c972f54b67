r"""``torchwarden run``: parse options, take GPU leases, hand over to the runtime.

Errors (a missing script, a busy GPU, a bad option value) are :class:`RunError`\ s,
printed by the command line's one error boundary (``cli/errors.py``).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from torchwarden.cli.options import COUNT, SECONDS, check_name, check_run_out
from torchwarden.errors import LeaseError, RunIndexError
from torchwarden.runtime.workload import Workload

if TYPE_CHECKING:
    from torchwarden.runtime.config import RunConfig
    from torchwarden.runtime.finish import RunOutcome
    from torchwarden.runtime.index import RunHandle
    from torchwarden.runtime.lease import Holder, Lease


class _RunCommand(click.Command):
    """`-m MODULE` ends torchwarden's options, as `python -m MODULE` ends Python's."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for i, arg in enumerate(args[:-1]):
            if arg == "--":
                break
            if arg == "-m":  # everything after the module's name is the module's
                return super().parse_args(ctx, [*args[: i + 2], "--", *args[i + 2 :]])
        return super().parse_args(ctx, args)


@click.command(
    cls=_RunCommand,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("script", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("-m", "module", metavar="MODULE", help="Run a module, as `python -m MODULE`.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    callback=check_run_out,
    help="New or empty directory for the record [default: a fresh runs/<time>-<name>].",
)
@click.option("--name", callback=check_name, help="Name of the run [default: the script's stem].")
@click.option(
    "--gpus", metavar="N|I,J", help="Lease GPUs exclusively: a count (2) or indices (0,2)."
)
@click.option("--wait/--no-wait", default=False, help="Queue for leased GPUs instead of failing.")
@click.option(
    "--wait-timeout", type=SECONDS, metavar="SECONDS", help="Give up waiting after this long."
)
@click.option(
    "--memory-fraction",
    type=float,
    metavar="F",
    help="Cap this run's CUDA memory to F of each GPU (0 < F <= 1).",
)
@click.option(
    "--nproc-per-node",
    type=COUNT,
    metavar="N",
    help="Launch N processes through torchrun; every rank is governed.",
)
@click.option(
    "--nnodes",
    default="1",
    show_default=True,
    help="torchrun --nnodes (e.g. 2, or 1:4 for elastic).",
)
@click.option(
    "--rdzv-endpoint", metavar="HOST:PORT", help="torchrun c10d rendezvous endpoint (multi-node)."
)
@click.option(
    "--max-restarts",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="torchrun --max-restarts.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    metavar="PORT",
    help="Serve this run's Prometheus metrics at http://127.0.0.1:PORT/metrics (rank r: PORT+r).",
)
@click.option(
    "--tensorboard",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Write the per-step series and findings as TensorBoard event files into DIR.",
)
@click.option(
    "--leak-check/--no-leak-check",
    default=True,
    show_default=True,
    help="Attribute memory growth to tensors, holders and sites.",
)
@click.option(
    "--report/--no-report",
    default=True,
    show_default=True,
    help="Write report.html beside run.json.",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Live status line on a terminal.",
)
@click.option(
    "--audit-transfers",
    is_flag=True,
    help="Count host/device copies and syncs per step, with your code's sites (costs a few us per torch call).",
)
def run(script: str | None, args: tuple[str, ...], module: str | None, **opts: Any) -> None:
    """Run SCRIPT (or -m MODULE, or the bundled example) under governance.

    \b
      torchwarden run                      the bundled example (a small Transformer)
      torchwarden run train.py --lr 0.1    your script, unchanged; its arguments follow it
      torchwarden run --gpus 1 --wait train.py
      torchwarden run --nproc-per-node 2 train.py

    Per step it records time and memory, names leaking tensors (holder and creation
    site), explains CUDA out-of-memory errors, and writes run.json and an offline
    report.html. The exit code is the script's.
    """
    from torchwarden.runtime.signals import run_signals

    signals = run_signals().install()  # first: a signal from here on still leaves a record
    if module and script:
        args = (script, *args)
        script = None
    try:
        code = _run(Workload.resolve(script, module, args), opts)
    finally:
        signals.uninstall()
    global workload_ran
    workload_ran = True  # the entry point leaves through leave(): see there
    sys.exit(code)


workload_ran = False


def leave(code: int) -> NoReturn:
    """Exit with the script's code, whatever the interpreter's teardown would make of it.

    The exit handlers (the script's and its libraries') run and the output is flushed, as
    at a normal exit; then the process leaves without the interpreter's own finalisation,
    where a framework's CUDA or thread teardown can crash or rewrite the status (a
    Lightning script that exits 0 under `python` was seen leaving with 195 on a GPU).
    """
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)


def _run(workload: Workload, opts: dict[str, Any]) -> int:
    """Take the leases, then run in this process or through torchrun; the exit code."""
    from torchwarden.runtime.config import RunConfig
    from torchwarden.runtime.rundir import make_run_dir

    name = opts["name"] or _safe_name(workload.name)
    config = RunConfig.from_options(opts, out_dir=Path(), name=name)  # checks options first
    gpus = opts["gpus"]
    lease = _lease(gpus, opts["wait"], opts["wait_timeout"], workload) if gpus else None
    try:
        # made last, so that a refused option or a busy GPU leaves no empty run directory
        config = replace(config, out_dir=make_run_dir(opts["out"], name))
        env = lease.env() if lease is not None else {}
        os.environ.update(env)
        row = _register(workload, config, lease.indices if lease is not None else ())
        outcome = None
        try:
            if opts["nproc_per_node"]:
                from torchwarden.runtime.launch import LaunchConfig, launch

                launch_cfg = LaunchConfig(
                    opts["nproc_per_node"], opts["nnodes"], opts["rdzv_endpoint"],
                    opts["max_restarts"],
                )  # fmt: skip
                outcome = launch(workload, config, launch_cfg, env)
            else:
                from torchwarden.runtime.runner import run_in_process

                outcome = run_in_process(workload, config, sinks=[row] if row else [])
            return outcome.exit_code
        finally:
            if row is not None:  # a SIGKILLed run's row shows as `lost`: its pid is gone
                _finish_row(row, outcome)
    finally:
        if lease is not None:
            lease.release()


def _register(workload: Workload, config: RunConfig, gpus: Sequence[int]) -> RunHandle | None:
    """This run's row in the machine-wide run index; None (and a warning) if it cannot be."""
    from torchwarden.runtime.index import RunInfo, register

    info = RunInfo(config.name, " ".join(workload.command), config.out_dir.resolve(), tuple(gpus))
    try:
        return register(info)
    except RunIndexError as e:  # the index is a convenience: never fail the run for it
        click.echo(f"torchwarden run: not in the run index: {e}", err=True)
        return None


def _finish_row(row: RunHandle, outcome: RunOutcome | None) -> None:
    try:
        if outcome is None:
            row.finish("failed", None)
        else:
            row.finish(
                outcome.status if outcome.status != "running" else "failed", outcome.exit_code
            )
    except RunIndexError as e:
        click.echo(f"torchwarden run: run index not updated: {e}", err=True)


def _safe_name(stem: str) -> str:
    """A script's stem as a run name: characters other than a name's become '-'."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]", "-", stem).lstrip(".-+_")[:100]
    return cleaned or "run"


def _lease(gpus: str, wait: bool, timeout: float | None, workload: Workload) -> Lease:
    from torchwarden.runtime.gpus import available_gpus
    from torchwarden.runtime.lease import acquire, parse_gpu_request

    request = parse_gpu_request(gpus)

    def waiting(holders: dict[int, Holder | None]) -> None:
        busy = ", ".join(f"GPU {i}: {h.describe()}" for i, h in holders.items() if h is not None)
        click.echo(f"torchwarden run: waiting for {busy}", err=True)

    command = " ".join(workload.command)
    available = available_gpus()
    if not available:
        raise LeaseError(
            f"--gpus {gpus}: no CUDA GPU is visible on this machine "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}). "
            "Run without --gpus, or check `torchwarden gpus`."
        )
    return acquire(
        request, available=available, wait=wait, timeout=timeout, command=command, on_wait=waiting
    )
