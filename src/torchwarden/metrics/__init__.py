"""What a run looks like from outside, read from its event stream: Prometheus and TensorBoard.

``events`` types and validates the lines of ``events.jsonl``; ``rundir`` reads a run
directory safely; ``prometheus`` and ``tensorboard`` turn the same events into metrics.
Exporters are imported on first use, so this package costs nothing until asked.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from torchwarden.errors import RunError as RunError

if TYPE_CHECKING:
    from torchwarden.metrics.events import Event as Event
    from torchwarden.metrics.events import parse_event as parse_event
    from torchwarden.metrics.events import parse_line as parse_line
    from torchwarden.metrics.prometheus import MetricsEndpoint as MetricsEndpoint
    from torchwarden.metrics.prometheus import RunMetrics as RunMetrics
    from torchwarden.metrics.prometheus import expose as expose
    from torchwarden.metrics.rundir import EventTail as EventTail
    from torchwarden.metrics.tensorboard import TensorBoardWriter as TensorBoardWriter
    from torchwarden.metrics.tensorboard import write_tensorboard as write_tensorboard

_LAZY = {
    "Event": "torchwarden.metrics.events",
    "parse_event": "torchwarden.metrics.events",
    "parse_line": "torchwarden.metrics.events",
    "MetricsEndpoint": "torchwarden.metrics.prometheus",
    "RunMetrics": "torchwarden.metrics.prometheus",
    "expose": "torchwarden.metrics.prometheus",
    "EventTail": "torchwarden.metrics.rundir",
    "TensorBoardWriter": "torchwarden.metrics.tensorboard",
    "write_tensorboard": "torchwarden.metrics.tensorboard",
}

__all__ = sorted([*_LAZY, "RunError"])


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'torchwarden.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
