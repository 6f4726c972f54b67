"""Option checks that run while the command line is parsed, before any work starts.

Each is a click ``callback`` or ``type``: a bad value is a usage error (exit code 2,
click's format) naming the option, the value and what to give instead, so that no
probe runs, no GPU is leased and no directory is made for input that cannot work.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import click

__all__ = [
    "COUNT",
    "SECONDS",
    "check_name",
    "check_output_file",
    "check_run_out",
    "check_shm_size",
]

COUNT = click.IntRange(min=1)
SECONDS = click.FloatRange(min=0)

# Pseudo file systems: writing a report there fails, or worse, changes the kernel.
_PSEUDO = (Path("/proc"), Path("/sys"), Path("/dev"))
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
_SHM = re.compile(r"[0-9]{1,12}[bkmg]?")


def _pseudo(path: Path) -> Path | None:
    resolved = path.resolve()
    return next((p for p in _PSEUDO if resolved == p or p in resolved.parents), None)


def check_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--name`` is a name (it becomes part of a directory name), never a path."""
    if value is not None and not _NAME.fullmatch(value):
        raise click.BadParameter(
            f"{value!r} is not a run name: use up to 100 letters, digits, '.', '_', '+' or '-', "
            "starting with a letter or digit (no '/'); choose the directory with --out.",
        )
    return value


def check_output_file(
    ctx: click.Context, param: click.Parameter, value: Path | None
) -> Path | None:
    """A file to write: its directory exists and is writable, and it is no pseudo file."""
    if value is None:
        return None
    pseudo = _pseudo(value)
    if pseudo is not None:
        raise click.BadParameter(
            f"{value} is under {pseudo}, which holds no files: choose a path in a normal directory."
        )
    if value.is_dir():
        raise click.BadParameter(f"{value} is a directory: name a file inside it.")
    parent = value.parent
    if not parent.is_dir():
        raise click.BadParameter(f"the directory {parent} does not exist: create it first.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise click.BadParameter(f"the directory {parent} is not writable: choose another path.")
    return value


def check_run_out(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """``--out`` is a new or empty directory: a run never mixes with an earlier one."""
    if value is None:
        return None
    pseudo = _pseudo(value)
    if pseudo is not None:
        raise click.BadParameter(f"{value} is under {pseudo}: choose a directory on a real disk.")
    if value.exists() and not value.is_dir():
        raise click.BadParameter(f"{value} exists and is not a directory: choose a new directory.")
    if value.is_dir() and any(value.iterdir()):
        raise click.BadParameter(
            f"{value} is not empty (an earlier run's record?): give a new directory, or "
            "leave --out out for a fresh runs/<time>-<name>."
        )
    return value


def check_shm_size(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``docker run --shm-size``: a number of bytes with an optional unit (b, k, m, g)."""
    if value is not None and not _SHM.fullmatch(value):
        raise click.BadParameter(
            f"{value!r} is not a size: give digits with an optional unit b, k, m or g (16g)."
        )
    return value
