"""The machine page: each GPU with its memory, use, processes and lease holder; the queue."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torchwarden.metrics.prometheus import MachineSample
from torchwarden.runtime.gpus import Gpu, GpuListing, GpuProcess
from torchwarden.runtime.index import RunFilter, list_runs
from torchwarden.runtime.lease import Holder, holders
from torchwarden.units import format_bytes
from torchwarden.web.tables import Cell, Table, queue_table, text

__all__ = ["Cached", "machine_json", "machine_sample", "machine_tables"]

HOT_CELSIUS = 85  # data-centre GPUs start to slow their clocks near here
GPU_COLUMNS = ("GPU", "name", "memory used / total", "use", "temp", "processes", "leased by",
               "command", "since")  # fmt: skip


class Cached:
    """``source()``, asked again only when the last answer is older than ``ttl_s``."""

    def __init__(self, source: Callable[[], GpuListing], *, ttl_s: float) -> None:
        self._source, self._ttl = source, ttl_s
        self._value: tuple[float, GpuListing] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> GpuListing:
        with self._lock:
            if self._value is None or time.monotonic() - self._value[0] > self._ttl:
                self._value = (time.monotonic(), self._source())
            return self._value[1]


def machine_sample(list_gpus: Callable[[], GpuListing], lease_dir: Path) -> MachineSample:
    """GPUs and their lease holders now (NVML first; see ``runtime.gpus``)."""
    listing = list_gpus()
    indices = [g.index for g in listing.gpus]
    return MachineSample(gpus=listing.gpus, holders=holders(lease_dir, indices or None))


def machine_tables(
    list_gpus: Callable[[], GpuListing], lease_dir: Path, index_dir: Path
) -> dict[str, Any]:
    listing = list_gpus()
    leases = holders(lease_dir, [g.index for g in listing.gpus] or None)
    gpus = Table(
        list(GPU_COLUMNS),
        empty="No GPU visible: " + ("; ".join(listing.problems) or "none listed") + ".",
    )
    here = socket.gethostname()
    running = list_runs(RunFilter(status="running"), index_dir=index_dir)
    runs = {r.pid: r.id for r in running if r.host == here}  # a holder's run, to link to
    for gpu in listing.gpus:
        gpus.rows.append(_gpu_row(gpu, leases.get(gpu.index), runs))
    for index, holder in leases.items():  # a lease on a GPU this listing does not show
        if holder is not None and index not in {g.index for g in listing.gpus}:
            unknown = [text(None)] * (len(GPU_COLUMNS) - 4)  # a GPU NVML did not list
            gpus.rows.append([Cell(str(index)), *unknown, *_lease_cells(holder, runs)])
    waiting = list_runs(RunFilter(status="waiting"), index_dir=index_dir)
    source = {"nvml": "NVML", "torch": "torch (no NVML: no use or processes)"}
    return {
        "source": source.get(listing.source or "", "no GPU found"),
        "driver": listing.driver or "—",
        "gpus": gpus.to_dict(),
        "queue": queue_table(waiting).to_dict(),
    }


def machine_json(
    list_gpus: Callable[[], GpuListing], lease_dir: Path, index_dir: Path
) -> dict[str, Any]:
    """``/api/machine``: the GPU listing (``torchwarden gpus --json``'s fields), each GPU's
    lease, and the queue of waiting runs (rows as ``/api/runs`` gives them)."""
    listing = list_gpus()
    leases = holders(lease_dir, [g.index for g in listing.gpus] or None)
    record = {"schema": "torchwarden.machine/1", "at": time.time(), **listing.to_dict()}
    for gpu in record["gpus"]:
        holder = leases.get(gpu["index"])
        gpu["lease"] = holder.to_dict() if holder else None
    waiting = list_runs(RunFilter(status="waiting"), index_dir=index_dir)
    record["queue"] = [row.to_dict() for row in sorted(waiting, key=lambda r: r.started_at)]
    return record


def _gpu_row(gpu: Gpu, holder: Holder | None, runs: dict[int, str]) -> list[Cell]:
    share = gpu.memory_used / gpu.memory_total if gpu.memory_total else 0.0
    memory = f"{format_bytes(gpu.memory_used)} / {format_bytes(gpu.memory_total)} ({share:.0%})"
    use = None if gpu.utilization is None else f"{gpu.utilization}%"
    return [
        Cell(str(gpu.index)),
        text(gpu.name),
        Cell(memory, cls="warn" if share > 0.9 else None),
        text(use),
        _temperature(gpu.temperature),
        text(_processes(gpu.processes)),
        *_lease_cells(holder, runs),
    ]


def _temperature(celsius: int | None) -> Cell:
    if celsius is None:
        return text(None)
    return Cell(f"{celsius} °C", cls="warn" if celsius >= HOT_CELSIUS else None)


def _lease_cells(holder: Holder | None, runs: dict[int, str]) -> list[Cell]:
    if holder is None:
        return [Cell("free", cls="good"), text(None), text(None)]
    if holder.pid < 0:
        return [text(holder.user), text(None), text(None)]
    where = "" if holder.host == socket.gethostname() else f" on {holder.host}"
    alive = "" if holder.may_be_alive() else " (gone)"
    run = runs.get(holder.pid) if not where else None
    who = Cell(
        f"{holder.user} (pid {holder.pid}{where}){alive}",
        href=f"/runs/{run}" if run else None,
        cls="live" if not alive else "bad",
    )
    return [who, text(holder.command), text(holder.since.replace("T", " "))]


def _processes(processes: tuple[GpuProcess, ...] | None) -> str | None:
    if processes is None:
        return None
    if not processes:
        return "none"
    return "; ".join(
        f"{p.pid} {p.name or '?'} ({p.user or '?'}) {format_bytes(p.used_bytes)}" for p in processes
    )
