"""The command line's one error boundary: how an error reaches the terminal.

Every command raises :class:`~torchwarden.errors.TorchwardenError` (a subclass per
subsystem) for what the user can fix; the ``torchwarden`` group catches it here and
prints it in one format, on stderr, with one exit code:

    torchwarden: error: <message>        exit code 2

Commands keep their own exit codes for results (``doctor``: 1 warnings, 2 failures;
``env diff``: 1 differences that matter; ``run``: the script's). Click's own usage
errors keep click's format and also exit with 2.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from torchwarden.errors import TorchwardenError

__all__ = ["EXIT_ERROR", "fail", "format_error"]

EXIT_ERROR = 2


def format_error(error: TorchwardenError) -> str:
    """The one line (or paragraph) a user sees for ``error``."""
    return f"torchwarden: error: {error}"


def fail(error: TorchwardenError) -> NoReturn:
    """Print ``error`` on stderr and exit with :data:`EXIT_ERROR`."""
    click.echo(format_error(error), err=True)
    sys.exit(EXIT_ERROR)
