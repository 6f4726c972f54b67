"""The run's live exporters: `--metrics-port` (Prometheus) and `--tensorboard` (event files).

Both take the run's events as :class:`~torchwarden.runtime.stream.EventStream` emits them
(the same step, finding and status events that go to ``events.jsonl``), so they show what
the record says, as it happens. Rank ``r`` of a torchrun launch serves metrics on
``port + r`` and writes TensorBoard files to ``DIR/rank-r``; a single process, to ``port``
and ``DIR``. A port that is taken is a clear :class:`RunError` before the workload starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from torchwarden.errors import RunError
from torchwarden.runtime.config import RunConfig

__all__ = ["Exporter", "open_exporters"]


class Exporter(Protocol):
    def observe(self, event: Any) -> None: ...

    def close(self) -> None: ...


def open_exporters(config: RunConfig) -> list[Exporter]:
    """The exporters ``config`` asks for, started; an empty list when it asks for none."""
    exporters: list[Exporter] = []
    multi = config.out_dir.name.startswith("rank-")  # a torchrun rank: one per rank
    if config.metrics_port is not None:
        from torchwarden.metrics.prometheus import expose

        port = config.metrics_port + config.rank
        try:
            exporters.append(expose(port, run=config.name))
        except OSError as e:
            raise RunError(
                f"--metrics-port {port}: cannot serve metrics there ({e.strerror or e}). "
                "Pick a free port, e.g. --metrics-port 9400."
            ) from None
    if config.tensorboard is not None:
        from torchwarden.metrics.tensorboard import TensorBoardWriter

        log_dir = Path(config.tensorboard)
        exporters.append(TensorBoardWriter(log_dir / f"rank-{config.rank}" if multi else log_dir))
    return exporters
