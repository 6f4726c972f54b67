"""``/metrics`` of ``torchwarden serve``: the machine, and every run live or recently ended.

Each run keeps one :class:`~torchwarden.metrics.prometheus.RunMetrics` fed from its
event stream, so a scrape reads only the bytes appended since the last one. Runs
that ended more than ``RECENT_S`` ago are dropped, which bounds the series.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from torchwarden.metrics.prometheus import RunMetrics, TorchwardenCollector
from torchwarden.metrics.rundir import EventTail
from torchwarden.runtime.gpus import GpuListing
from torchwarden.runtime.index import list_runs
from torchwarden.web.machine import machine_sample

if TYPE_CHECKING:
    from torchwarden.web.app import ServeConfig

__all__ = ["RunsExporter"]

RECENT_S = 15 * 60


class RunsExporter:
    def __init__(self, config: ServeConfig, gpus: Callable[[], GpuListing]) -> None:
        self.config = config
        self._runs: dict[str, tuple[RunMetrics, EventTail]] = {}
        self._lock = threading.Lock()  # scrapes may overlap
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(
            TorchwardenCollector(self._current, lambda: machine_sample(gpus, config.lease_dir))
        )

    def scrape(self) -> bytes:
        with self._lock:
            return generate_latest(self.registry)

    def _current(self) -> Iterator[RunMetrics]:
        now, seen = time.time(), set()
        for row in list_runs(index_dir=self.config.index_dir):
            if row.ended_at is not None and now - row.ended_at > RECENT_S:
                continue
            seen.add(row.id)
            if row.id not in self._runs:
                labels = {"name": row.name, "user": row.user}
                self._runs[row.id] = (RunMetrics(row.id, labels), EventTail(row.out_dir, row.uid))
            metrics, tail = self._runs[row.id]
            while events := tail.poll():
                for event in events:
                    metrics.observe(event)
            metrics.status = row.status if row.status != "running" else metrics.status
            yield metrics
        for gone in set(self._runs) - seen:
            del self._runs[gone]
