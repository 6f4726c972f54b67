"""Prometheus metrics of runs and of the machine, built from the same typed events.

Conventions of ``prometheus_client``: a ``torchwarden_`` prefix, base units in the
name (``_bytes``, ``_seconds``), ``_total`` counters, ratios from 0 to 1, and bounded
labels only: ``run``, ``rank``, ``device`` (as the run numbers it: ``cuda:0``, ``cpu``),
``gpu`` (the physical index), ``kind`` and ``user``. No pid label: a pid changes on every
restart and would leave a dead series behind each time.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from torchwarden.metrics.events import Event, FindingEvent, StatusEvent, StepEvent, parse_event

__all__ = ["MachineSample", "MetricsEndpoint", "RunMetrics", "TorchwardenCollector", "expose"]

# Gauge and counter families share add_metric(labels, value); Metric itself does not declare it
Families = dict[str, Any]
_MEMORY = (("allocated", "allocated"), ("reserved", "reserved"), ("peak_allocated", "peak"))


class RunMetrics:
    """What Prometheus sees of one run: fed event by event, read at each scrape."""

    def __init__(self, run: str, labels: dict[str, str] | None = None) -> None:
        self.run = run
        self.labels = labels or {}  # extra info labels (name, user) for torchwarden_run_info
        self.status = "running"
        self.steps: dict[int, int] = {}
        self.step_time: dict[int, float] = {}
        self.memory: dict[tuple[int, str], dict[str, int]] = {}
        self.findings: Counter[str] = Counter()
        self.leak_bytes: dict[int, int] = {}
        self._lock = threading.Lock()

    def observe(self, event: Event | dict[str, Any]) -> None:
        """Take one event: a typed one, or the dict the runtime writes to ``events.jsonl``."""
        parsed = parse_event(event) if isinstance(event, dict) else event
        with self._lock:
            if isinstance(parsed, StepEvent):
                self._step(parsed)
            elif isinstance(parsed, FindingEvent):
                self.findings[parsed.kind] += 1
                if parsed.kind == "leak":
                    rank = parsed.finding.get("rank") or 0
                    nbytes = parsed.finding.get("nbytes") or 0
                    self.leak_bytes[rank] = self.leak_bytes.get(rank, 0) + nbytes
            elif isinstance(parsed, StatusEvent):
                self.status = parsed.status

    def _step(self, event: StepEvent) -> None:
        self.steps[event.rank] = max(self.steps.get(event.rank, 0), event.step)
        if event.time_s is not None:
            self.step_time[event.rank] = event.time_s
        for device, counters in event.memory.items():
            seen = self.memory.setdefault((event.rank, device), {})
            seen.update(counters)
            peak = max(counters.get("peak_allocated", 0), seen.get("peak_seen", 0))
            seen["peak_seen"] = max(peak, counters.get("rss", 0) if device == "cpu" else 0)

    def add_to(self, families: Families) -> None:
        with self._lock:
            run = self.run
            families["run_info"].add_metric([run, *self._info()], 1)
            families["run_status"].add_metric([run, self.status], 1)
            for rank, step in self.steps.items():
                families["steps"].add_metric([run, str(rank)], step)
            for rank, seconds in self.step_time.items():
                families["step_time"].add_metric([run, str(rank)], seconds)
            for (rank, device), counters in self.memory.items():
                self._memory(families, [run, str(rank), device], device, counters)
            for kind, count in self.findings.items():
                families["findings"].add_metric([run, kind], count)
            for rank, nbytes in self.leak_bytes.items():
                families["leak"].add_metric([run, str(rank)], nbytes)

    def _info(self) -> list[str]:
        return [self.labels.get("name", self.run), self.labels.get("user", "")]

    @staticmethod
    def _memory(families: Families, labels: list[str], device: str, c: dict[str, int]) -> None:
        if device == "cpu":
            if "rss" in c:
                families["rss"].add_metric(labels, c["rss"])
        else:
            for key, name in _MEMORY:
                if key in c:
                    families[name].add_metric(labels, c[key])
        families["peak_seen"].add_metric(labels, c.get("peak_seen", 0))


@dataclass(frozen=True)
class MachineSample:
    """GPUs and lease holders at one moment: ``gpus`` as ``GpuListing.gpus``, holders by index."""

    gpus: tuple[Any, ...]
    holders: dict[int, Any]  # index -> lease Holder | None


def _families() -> Families:
    run, rank, device = ["run"], ["run", "rank"], ["run", "rank", "device"]
    g, c = GaugeMetricFamily, CounterMetricFamily
    return {
        "run_info": g("torchwarden_run_info", "A run known to torchwarden (always 1).", labels=["run", "name", "user"]),
        "run_status": g("torchwarden_run_status", "1, labelled with the run's current status.", labels=[*run, "status"]),
        "steps": c("torchwarden_steps", "Steps completed.", labels=rank),
        "step_time": g("torchwarden_step_time_seconds", "Wall time of the last step.", labels=rank),
        "allocated": g("torchwarden_memory_allocated_bytes", "CUDA caching allocator: allocated.", labels=device),
        "reserved": g("torchwarden_memory_reserved_bytes", "CUDA caching allocator: reserved.", labels=device),
        "peak": g("torchwarden_memory_peak_allocated_bytes", "CUDA allocator peak as of the last step.", labels=device),
        "peak_seen": g("torchwarden_memory_peak_bytes", "Highest memory seen over the run (CUDA peak allocated; CPU resident set).", labels=device),
        "rss": g("torchwarden_memory_resident_bytes", "Resident set size of the rank's process.", labels=device),
        "findings": c("torchwarden_findings", "Findings reported, by kind.", labels=[*run, "kind"]),
        "leak": g("torchwarden_leak_bytes", "Bytes held by tensors reported as leaking.", labels=rank),
        "gpu_used": g("torchwarden_gpu_memory_used_bytes", "GPU memory in use (NVML).", labels=["gpu"]),
        "gpu_total": g("torchwarden_gpu_memory_total_bytes", "GPU memory in all.", labels=["gpu"]),
        "gpu_util": g("torchwarden_gpu_utilization_ratio", "Share of time a kernel ran (0-1).", labels=["gpu"]),
        "gpu_temp": g("torchwarden_gpu_temperature_celsius", "GPU die temperature (NVML).", labels=["gpu"]),
        "lease": g("torchwarden_gpu_lease_holders", "Lease holders of a GPU (0 or 1).", labels=["gpu", "user"]),
    }  # fmt: skip


def _add_machine(families: Families, sample: MachineSample) -> None:
    for gpu in sample.gpus:
        index = str(gpu.index)
        families["gpu_used"].add_metric([index], gpu.memory_used)
        families["gpu_total"].add_metric([index], gpu.memory_total)
        if gpu.utilization is not None:
            families["gpu_util"].add_metric([index], gpu.utilization / 100)
        if gpu.temperature is not None:
            families["gpu_temp"].add_metric([index], gpu.temperature)
    for gpu_index, holder in sample.holders.items():
        user = holder.user if holder else ""
        families["lease"].add_metric([str(gpu_index), user], int(holder is not None))


class TorchwardenCollector(Collector):
    """Yields every family at scrape time from the runs (and machine) it is given."""

    def __init__(
        self,
        runs: Callable[[], Iterable[RunMetrics]],
        machine: Callable[[], MachineSample] | None = None,
    ) -> None:
        self._runs = runs
        self._machine = machine

    def collect(self) -> Iterator[Metric]:
        families = _families()
        for run in self._runs():
            run.add_to(families)
        if self._machine is not None:
            _add_machine(families, self._machine())
        yield from families.values()


class MetricsEndpoint:
    """``/metrics`` of one run on its own port (``torchwarden run --metrics-port``)."""

    def __init__(self, metrics: RunMetrics, server: Any, thread: threading.Thread) -> None:
        self.metrics = metrics
        self._server, self._thread = server, thread

    def observe(self, event: Event | dict[str, Any]) -> None:
        self.metrics.observe(event)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def expose(port: int, run: str, *, addr: str = "127.0.0.1") -> MetricsEndpoint:
    """Serve one run's metrics at ``http://addr:port/metrics`` from a daemon thread."""
    from prometheus_client import start_http_server

    metrics = RunMetrics(run)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TorchwardenCollector(lambda: [metrics]))
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return MetricsEndpoint(metrics, server, thread)
