r"""``torchwarden run``: parse options, take GPU leases, hand over to the runtime.

Errors (a missing script, a busy GPU, a bad option value) are :class:`RunError`\ s,
printed by the command line's one error boundary (``cli/errors.py``).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from torchwarden.cli.errors import EXIT_ERROR
from torchwarden.cli.options import COUNT, SECONDS, check_name, check_run_out
from torchwarden.errors import LeaseError
from torchwarden.runtime.workload import Workload

if TYPE_CHECKING:
    from torchwarden.runtime.keeper import Keeper
    from torchwarden.runtime.lease import Lease


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
    from torchwarden.runtime.signals import Terminated, run_signals

    signals = run_signals().install()  # first: a signal from here on still leaves a record
    if module and script:
        args = (script, *args)
        script = None
    try:
        code = _run(Workload.resolve(script, module, args), opts)
    except (KeyboardInterrupt, Terminated) as e:  # while queued for GPUs: it never ran
        code = 128 + getattr(e, "signum", signal.SIGINT)
    finally:
        if not signals.kept_until_exit:  # in-process callers get their handlers back
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
    The run's signal handlers stay installed, only noting, until the process is gone: a
    signal that came after the record was written no longer changes the exit code.
    """
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)


def _run(workload: Workload, opts: dict[str, Any]) -> int:
    """Take the leases, then run in this process or through torchrun; the exit code."""
    from torchwarden.runtime.admission import Admission
    from torchwarden.runtime.config import RunConfig

    name = opts["name"] or _safe_name(workload.name)
    config = RunConfig.from_options(opts, out_dir=Path(), name=name)  # checks options first
    entry = Admission(name, " ".join(workload.command), opts["out"], warn=_warn)
    lease: Lease | None = None
    if opts["gpus"]:
        try:
            lease = entry.lease(opts["gpus"], wait=opts["wait"], timeout=opts["wait_timeout"])
        except LeaseError:
            entry.give_up("gave-up", EXIT_ERROR)  # a queued run's row ends as the command does
            raise
    keeper: Lease | Keeper | None = lease if lease is not None else _start_keeper()
    try:
        out_dir, row = entry.admit(lease.indices if lease is not None else ())
        config = replace(config, out_dir=out_dir)
        env = keeper.env() if keeper is not None else {}
        os.environ.update(env)
        outcome = None
        try:
            if opts["nproc_per_node"]:
                from torchwarden.runtime.launch import LaunchConfig, launch

                launch_cfg = LaunchConfig(
                    opts["nproc_per_node"], opts["nnodes"], opts["rdzv_endpoint"],
                    opts["max_restarts"],
                )  # fmt: skip
                outcome = launch(workload, config, launch_cfg, env, sinks=[row] if row else [])
            else:
                from torchwarden.runtime.runner import run_in_process

                outcome = run_in_process(workload, config, sinks=[row] if row else [])
            return outcome.exit_code
        finally:
            entry.end(outcome)
    finally:
        if keeper is not None:
            keeper.release()


def _start_keeper() -> Keeper | None:
    """The process that ends this run's processes if it is killed (a lease brings its own)."""
    from torchwarden.runtime.keeper import Keeper

    try:
        return Keeper(end_orphans=True)
    except OSError as e:  # no interpreter to start: only a clean exit ends the children then
        click.echo(f"torchwarden run: the keeper could not start ({e}); if this run is "
                   "killed, end the processes it started yourself.", err=True)  # fmt: skip
        return None


def _warn(message: str) -> None:
    click.echo(f"torchwarden run: {message}", err=True)


def _safe_name(stem: str) -> str:
    """A script's stem as a run name: characters other than a name's become '-'."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]", "-", stem).lstrip(".-+_")[:100]
    return cleaned or "run"
