"""``torchwarden doctor``: check the environment with rules and real probes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from torchwarden.cli.options import check_output_file
from torchwarden.env.probes import PROBES
from torchwarden.units import format_bytes

__all__ = ["doctor", "print_report"]

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}
_PROBE_NAMES = tuple(p.name for p in PROBES)


@click.command()
@click.option(
    "--quick",
    is_flag=True,
    help="Skip the slow probes (compile, DataLoader, distributed, bandwidth).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=check_output_file,
    help="Write the torchwarden.env/1 report here.",
)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings (failures always exit 2).")
@click.option(
    "--fingerprint",
    "fingerprint_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Judge a recorded fingerprint instead of this machine (runs no probes).",
)
@click.option("--no-probes", is_flag=True, help="Fingerprint and rules only.")
@click.option(
    "--probe",
    "probes",
    multiple=True,
    type=click.Choice(_PROBE_NAMES),
    help="Run only this probe (repeatable).",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 16),
    default=None,
    help="Probes run at once (default: 2 with >= 4 cores, else 1).",
)
def doctor(
    quick: bool,
    json_path: Path | None,
    strict: bool,
    fingerprint_path: Path | None,
    no_probes: bool,
    probes: tuple[str, ...],
    jobs: int | None,
) -> None:
    """Check that the software stack is the one you think it is, and that it works.

    \b
    Exit codes: 0 ok, 1 warnings (with --strict), 2 failures.
    Examples:
      torchwarden doctor --quick
      torchwarden doctor --json env.json --strict
      torchwarden doctor --fingerprint recorded.json
    """
    from torchwarden.env import report
    from torchwarden.env.doctor import checkup, judge_file

    console = Console()
    if fingerprint_path is not None:
        result = judge_file(fingerprint_path)
    else:
        with _LiveProgress(console) as on_event:
            result = checkup(
                quick=quick, probes=probes, run_probes=not no_probes, jobs=jobs, on_event=on_event
            )
    if json_path is not None:
        report.save(result, json_path)
    print_report(result, console)
    code = report.exit_code(result, strict=strict)
    if json_path is not None:
        console.print(f"report written to {json_path}", style="dim")
    sys.exit(code)


class _LiveProgress:
    """A progress display fed by checkup events; silent when stdout is not a terminal."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
            console=console, transient=True, disable=not console.is_terminal,
        )  # fmt: skip
        self.task = self.progress.add_task("starting", total=None)
        self.terminal = console.is_terminal
        self.running: list[str] = []

    def __enter__(self) -> Any:
        self.progress.__enter__()
        return self.on_event

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def on_event(self, event: dict[str, Any]) -> None:
        kind, name = event.get("event"), event.get("name", "")
        if kind == "phase":
            self.progress.update(self.task, description=name)
        elif kind == "start":
            self.running.append(name)
        elif kind == "result":
            self.running.remove(name)
            if self.terminal:  # in CI the final table says it all; no duplicate lines
                badge = _badge(event.get("status", "fail"))
                self.progress.console.print(badge, name, event.get("message", ""), highlight=False)
            self.progress.advance(self.task)
        if kind in ("start", "result"):
            self.progress.update(self.task, description=f"probe {', '.join(self.running) or '...'}")


def _badge(level: str) -> str:
    return f"[{STYLE.get(level, '')}]{level.upper():>4}[/]"


def print_report(result: dict[str, Any], console: Console) -> None:
    console.print(_facts(result))
    rules: list[tuple[str, ...]] = [
        (_badge(r["verdict"]), r["rule"], r["message"], r["fix"]) for r in result["rules"]
    ]
    console.print(_table("rules", ("", "rule", "finding"), rules))
    if result["probes"]:
        probes: list[tuple[str, ...]] = [
            (_badge(p["status"]), p["probe"], f"{p.get('duration_s') or 0:.2f}", p["message"], p["fix"])
            for p in result["probes"]
        ]  # fmt: skip
        console.print(_table("probes", ("", "probe", "s", "result"), probes))
    counts = result["summary"]
    recorded = (
        ""
        if result.get("source", "live") == "live"
        else f"  (recorded: {escape(str(result['source']))})"
    )
    console.print(
        f"{counts['ok']} ok, {counts['warn']} warnings, {counts['fail']} failures, "
        f"{counts['skip']} skipped{recorded}",
        highlight=False,
    )


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    """Rows end with their fix; the fix column appears only when some row has one."""
    with_fix = any(row[-1] for row in rows)
    table = Table(*columns, *(["fix"] if with_fix else []), title=title, title_justify="left")
    for badge, *cells in rows:  # cells quote the fingerprint, which may hold markup: text
        shown = [escape(c) for c in cells]
        table.add_row(badge, *(shown if with_fix else shown[:-1]))
    return table


class _EscapedGrid(Table):
    """A grid whose cells are text: the facts come from a file that may hold markup."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            show_header=False,
            show_edge=False,
            box=None,
            pad_edge=False,
            collapse_padding=True,
            **kwargs,
        )

    def add_row(self, *cells: Any, **kwargs: Any) -> None:
        super().add_row(*(escape(c) if isinstance(c, str) else c for c in cells), **kwargs)


def _facts(result: dict[str, Any]) -> Table:
    fp = result["fingerprint"]
    torch_facts, driver = fp.get("torch", {}), fp.get("driver", {})
    table = _EscapedGrid(padding=(0, 2))
    table.add_row(
        "python", f"{fp.get('python', {}).get('version')} ({fp.get('platform', {}).get('system')})"
    )
    table.add_row("torch", f"{torch_facts.get('version')}  CUDA {torch_facts.get('cuda') or '-'}  "
                  f"cuDNN {torch_facts.get('cudnn') or '-'}  NCCL {torch_facts.get('nccl') or '-'}")  # fmt: skip
    table.add_row(
        "driver",
        f"{driver.get('version') or '-'}  (CUDA {driver.get('cuda') or '-'}, {driver.get('source') or 'no NVML'})",
    )
    for gpu in fp.get("gpus", []):
        table.add_row(f"GPU {gpu.get('index')}", f"{gpu.get('name')}  cc {gpu.get('compute_capability')}  "
                      f"{format_bytes(gpu.get('memory_bytes'))}")  # fmt: skip
    host = fp.get("host", {})
    table.add_row("host", f"{host.get('cpu_count')} CPUs, {format_bytes(host.get('memory_bytes'))}, "
                  f"/dev/shm {format_bytes(host.get('shm_bytes'))}, "
                  f"container: {host.get('container', {}).get('runtime') or 'no'}")  # fmt: skip
    return table
