"""``torchwarden gpus``: the machine's GPUs, their memory, their processes and lease holders."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from torchwarden.errors import LeaseError
from torchwarden.runtime.gpus import Gpu, GpuListing, GpuProcess, list_gpus
from torchwarden.runtime.lease import Holder, holders
from torchwarden.runtime.lease_files import resolve_lease_dir
from torchwarden.units import format_bytes

__all__ = ["gpus"]

SCHEMA = "torchwarden.gpus/1"


@click.command()
@click.option("--json", "as_json", is_flag=True, help=f"Print JSON ({SCHEMA}) instead of a table.")
@click.option(
    "--lease-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Lease directory [default: $TORCHWARDEN_LEASE_DIR or /tmp/torchwarden-leases].",
)
def gpus(as_json: bool, lease_dir: Path | None) -> None:
    """List GPUs with memory use, utilization, processes and who holds a lease on each.

    Uses NVML (pip install nvidia-ml-py) when it can, torch otherwise. Sizes are in
    IEC units (1 GiB = 2**30 bytes).
    """
    listing = list_gpus()
    directory = resolve_lease_dir(lease_dir)
    try:
        leases = holders(directory, [g.index for g in listing.gpus])
    except LeaseError as e:
        click.echo(f"torchwarden gpus: {e}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(_as_json(listing, leases, directory), indent=2))
        return
    console = Console()
    if not listing.gpus:
        console.print(_no_gpu_message(listing), highlight=False)
        return
    console.print(_table(listing, leases))
    console.print(
        f"[dim]Leases in {directory} · sizes in IEC units (1 GiB = 2^30 bytes)[/dim]",
        highlight=False,
    )


def _no_gpu_message(listing: GpuListing) -> str:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    shown = "unset" if visible is None else repr(visible)
    return (
        f"No CUDA GPU visible (CUDA_VISIBLE_DEVICES={shown}); "
        + "; ".join(listing.problems)
        + ". On a GPU machine, check that `nvidia-smi` works and that torch is a CUDA build."
    )


def _as_json(listing: GpuListing, leases: dict[int, Holder | None], directory: Path) -> object:
    record = {"schema": SCHEMA, **listing.to_dict(), "lease_dir": str(directory)}
    for gpu in record["gpus"]:
        holder = leases.get(gpu["index"])
        gpu["lease"] = holder.to_dict() if holder else None
    if not listing.gpus:
        record["message"] = _no_gpu_message(listing)
    return record


def _table(listing: GpuListing, leases: dict[int, Holder | None]) -> Table:
    source = "NVML" if listing.source == "nvml" else "torch (no NVML: no utilization or processes)"
    driver = f", driver {listing.driver}" if listing.driver else ""
    table = Table(title=f"GPUs ({source}{driver})", title_justify="left")
    columns = ("GPU", "name", "memory used / total", "util", "temp", "processes", "leased by")
    for column in (*columns, "command", "since"):
        table.add_column(
            column,
            justify="right" if column in ("GPU", "util", "temp") else "left",
            no_wrap=column not in ("processes", "command"),  # only these may run long
        )
    for gpu in listing.gpus:
        table.add_row(
            str(gpu.index),
            gpu.name,
            _memory(gpu),
            "—" if gpu.utilization is None else f"{gpu.utilization}%",
            "—" if gpu.temperature is None else f"{gpu.temperature} °C",
            _processes(gpu.processes),
            *_lease(leases.get(gpu.index)),
        )
    return table


def _lease(holder: Holder | None) -> tuple[str, str, str]:
    if holder is None:
        return "[green]free[/green]", "", ""
    if holder.pid < 0:  # locked a moment ago, record not yet written
        return escape(holder.user), "", ""
    # every field was written by whoever holds the lease: text, never markup
    where = "" if holder.host == socket.gethostname() else f" on {holder.host}"
    who = escape(f"{holder.user} (pid {holder.pid}{where})")
    return who, escape(holder.command), escape(holder.since)


def _memory(gpu: Gpu) -> str:
    share = gpu.memory_used / gpu.memory_total if gpu.memory_total else 0.0
    return f"{format_bytes(gpu.memory_used)} / {format_bytes(gpu.memory_total)} ({share:.0%})"


def _processes(processes: tuple[GpuProcess, ...] | None) -> str:
    if processes is None:
        return "—"
    if not processes:
        return "none"
    return "\n".join(
        f"{p.pid} {p.name or '?'} ({p.user or '?'}) {format_bytes(p.used_bytes)}" for p in processes
    )
