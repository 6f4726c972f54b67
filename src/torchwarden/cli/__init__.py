"""The ``torchwarden`` command line. One module per command; no logic beyond parsing and printing.

Commands are imported only when invoked, so ``torchwarden --help`` does not import torch.
Every command's :class:`~torchwarden.errors.TorchwardenError` is caught by the group and
printed by :func:`torchwarden.cli.errors.fail` (one format, exit code 2).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

from torchwarden._version import __version__
from torchwarden.cli.errors import fail
from torchwarden.errors import TorchwardenError

__all__ = ["cli", "main"]

# name -> "module:attribute". A command whose module is not part of this install is left out.
COMMANDS: dict[str, str] = {
    "run": "torchwarden.cli.run:run",
    "gpus": "torchwarden.cli.gpus:gpus",
    "doctor": "torchwarden.cli.doctor:doctor",
    "env": "torchwarden.cli.env:env",
    "demo": "torchwarden.cli.demo:demo",
    "serve": "torchwarden.cli.serve:serve",
    "report": "torchwarden.cli.report:report",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use, and the error boundary."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = {
            name: target
            for name, target in lazy.items()
            if importlib.util.find_spec(target.partition(":")[0]) is not None
        }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            module, _, attr = self._lazy[cmd_name].partition(":")
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TorchwardenError as e:
            fail(e)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "-V", "--version", prog_name="torchwarden")
def cli() -> None:
    """Govern PyTorch work on GPU machines.

    \b
    torchwarden run [SCRIPT] ...   run a script (or the bundled example) under governance
    torchwarden gpus               GPUs, their memory and who holds a lease on them
    torchwarden doctor             check the environment with real probes
    torchwarden env diff A B       explain how two environments differ
    torchwarden report DIR         (re)write a run's report; rebuild a killed run's record
    torchwarden demo               a tour of tensor-lifecycle reports (torchwarden.scope)

    Run `torchwarden COMMAND --help` for each command's options.
    """


def main() -> None:
    """The `torchwarden` command. After `run`, the process leaves with the script's code."""
    from torchwarden.runtime.signals import run_signals

    run_signals().kept_until_exit = True  # see run.leave: nothing runs after it
    try:
        cli()
    except SystemExit as e:
        from torchwarden.cli import run

        if run.workload_ran and isinstance(e.code, int):
            run.leave(e.code)
        raise
