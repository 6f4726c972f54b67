"""``torchwarden env diff`` and ``torchwarden env dockerfile``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from torchwarden.cli.options import check_output_file, check_shm_size
from torchwarden.env.dockerfile import WHEEL
from torchwarden.errors import EnvError

__all__ = ["env"]

_FILE = click.Path(exists=False, dir_okay=False, path_type=Path)


@click.group()
def env() -> None:
    """Compare environments and rebuild them as containers."""


@env.command("diff")
@click.argument("a", type=_FILE)
@click.argument("b", type=_FILE)
@click.option(
    "--json",
    "json_path",
    type=_FILE,
    callback=check_output_file,
    help="Write the differences as torchwarden.envdiff/1.",
)
@click.option("--all", "show_all", is_flag=True, help="Also list differences that do not matter.")
def diff_command(a: Path, b: Path, json_path: Path | None, show_all: bool) -> None:
    """Explain how environment A differs from B, and what each difference is known to cause.

    A and B are `torchwarden doctor --json` files; rules are re-judged by this version.
    Exit codes: 0 no difference that matters, 1 they differ in something that matters,
    2 a file could not be read.
    """
    from torchwarden.env import report
    from torchwarden.env.diff import diff
    from torchwarden.env.doctor import judge_file

    left, right = judge_file(a), judge_file(b)
    differences = diff(left, right)
    if json_path is not None:
        report.save({"schema": "torchwarden.envdiff/1", "a": str(a), "b": str(b),
                     "differences": differences}, json_path)  # fmt: skip
    console = Console()
    _print_diff(console, differences, show_all, a, b)
    sys.exit(1 if any(d["matters"] for d in differences) else 0)


def _print_diff(
    console: Console, differences: list[dict[str, Any]], show_all: bool, a: Path, b: Path
) -> None:
    """Grouped lines rather than a table: symptoms are sentences and need the width."""
    from torchwarden.env.diff import GROUPS

    console.print(escape(f"A = {a}\nB = {b}"), style="dim", highlight=False)
    for group in GROUPS:
        rows = [d for d in differences if d["group"] == group and (show_all or d["matters"])]
        if rows:
            console.print(f"\n[bold]{group}[/]")
        for d in rows:
            mark = "[bold yellow]![/]" if d["matters"] else "[dim]·[/]"
            # keys, values and symptoms come from the two files: text, never markup
            line = escape(f"{d['key']}: {_cell(d['a'])} -> {_cell(d['b'])}")
            console.print(f" {mark} {line}", highlight=False)
            if d["symptom"]:
                console.print(
                    f"     {escape(d['symptom'])}",
                    style="" if d["matters"] else "dim",
                    highlight=False,
                )
    hidden = sum(not d["matters"] for d in differences) if not show_all else 0
    matter = sum(d["matters"] for d in differences)
    more = f", {hidden} that do not (--all lists them)" if hidden else ""
    console.print(f"\n{matter} difference(s) that matter{more}")


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


@env.command("dockerfile")
@click.option(
    "--fingerprint",
    "fingerprint_path",
    type=_FILE,
    help="Pin to a recorded fingerprint (default: this machine).",
)
@click.option(
    "--jupyter", is_flag=True, help="Serve JupyterLab on 8888; token from JUPYTER_TOKEN (required)."
)
@click.option(
    "--ssh", is_flag=True, help="Serve sshd on 2222, key-only; keys from SSH_AUTHORIZED_KEYS."
)
@click.option("--digest", help="Pin the base image by digest: sha256:<64 hex>.")
@click.option("--no-compile", is_flag=True, help="Leave out the compiler torch.compile needs.")
@click.option(
    "--shm-size",
    callback=check_shm_size,
    help="docker run --shm-size (e.g. 16g) instead of --ipc=host.",
)
@click.option(
    "--image",
    default="torchwarden-env",
    show_default=True,
    help="Image name in the build and run lines.",
)
@click.option(
    "--wheel",
    default=WHEEL,
    show_default=True,
    help="torchwarden's wheel, relative to the build context (pip wheel --no-deps -w dist SRC).",
)
@click.option(
    "-o",
    "--output",
    type=_FILE,
    callback=check_output_file,
    help="Write the Dockerfile here instead of stdout.",
)
def dockerfile_command(
    fingerprint_path: Path | None,
    jupyter: bool,
    ssh: bool,
    digest: str | None,
    no_compile: bool,
    shm_size: str | None,
    image: str,
    wheel: str,
    output: Path | None,
) -> None:
    """Write a Dockerfile that rebuilds this (or a recorded) environment, and its docker run line."""
    from torchwarden.env import dockerfile, fingerprint, report

    fp = report.load(fingerprint_path)["fingerprint"] if fingerprint_path else fingerprint.collect()
    spec = dockerfile.DockerSpec.from_fingerprint(
        fp, jupyter=jupyter, ssh=ssh, digest=digest, compile=not no_compile,
        shm_size=shm_size, image=image, wheel=wheel,
    )  # fmt: skip
    text = dockerfile.render(spec, source=str(fingerprint_path or "this machine"))
    if output is not None:
        _write(output, text)
    if output is None:
        click.echo(text, nl=False)
    click.echo(f"# run: {dockerfile.run_line(spec)}", err=True)


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as e:
        raise EnvError(
            f"Cannot write the Dockerfile to {path}: {e.strerror}. Choose a writable path with -o."
        ) from None
