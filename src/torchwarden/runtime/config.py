"""How one run is governed: :class:`RunConfig`, and its JSON form for torchrun's workers.

A ``run`` option lives here once, as a field: the CLI fills it from the click option of
the same name (:meth:`RunConfig.from_options`), and every rank of a ``--nproc-per-node`` run receives the whole config as JSON in
``TORCHWARDEN_RUN_CONFIG`` (:meth:`RunConfig.to_json`, :meth:`RunConfig.from_json`), so
adding an option touches this class and the click option, nothing in between.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchwarden.errors import RunError

__all__ = ["CONFIG_VAR", "RunConfig"]

CONFIG_VAR = "TORCHWARDEN_RUN_CONFIG"


@dataclass(frozen=True)
class RunConfig:
    """Where a run writes, what it is called, and what governance it gets."""

    out_dir: Path
    name: str
    leak_check: bool = True
    memory_fraction: float | None = None
    progress: bool = True
    report: bool = True
    rank: int = 0
    summary: bool = True
    audit_transfers: bool = False
    metrics_port: int | None = None  # Prometheus endpoint of this run (rank r: port + r)
    tensorboard: str | None = None  # directory for TensorBoard event files

    def __post_init__(self) -> None:
        if self.metrics_port is not None and not 0 < self.metrics_port < 65536:
            raise RunError(f"--metrics-port must be a TCP port (1-65535), got {self.metrics_port}.")
        if self.memory_fraction is not None and not 0.0 < self.memory_fraction <= 1.0:
            raise RunError(
                f"--memory-fraction must be in (0, 1], got {self.memory_fraction}: it is the "
                "share of each GPU's memory this run may use (0.5 = half)."
            )

    @classmethod
    def from_options(cls, options: Mapping[str, Any], **given: Any) -> RunConfig:
        """The config from command-line options named as its fields (others are ignored).

        ``given`` wins over ``options``: values the caller derived (``out_dir``, ``name``).
        """
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in options.items() if k in names}, **given})

    def to_json(self) -> str:
        """Every field as one JSON object (``out_dir`` as a string)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return json.dumps({**fields, "out_dir": str(self.out_dir)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        """The config :meth:`to_json` wrote; :class:`RunError` naming what does not fit."""
        try:
            data = json.loads(text)
        except ValueError as e:
            raise RunError(
                f"{CONFIG_VAR} is not JSON ({e}); it is written by the parent run."
            ) from None
        if not isinstance(data, dict):
            raise RunError(f"{CONFIG_VAR} must be a JSON object, got {type(data).__name__}.")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise RunError(
                f"{CONFIG_VAR} has fields this torchwarden does not know: {', '.join(unknown)}. "
                "Run every rank with the same torchwarden version as the parent."
            )
        if isinstance(data.get("out_dir"), str):
            data["out_dir"] = Path(data["out_dir"])
        _check_types(cls, data)
        try:
            return cls(**data)
        except TypeError as e:  # a required field is missing
            raise RunError(f"{CONFIG_VAR}: {e}; it is written by the parent run.") from None

    def for_rank(self, rank: int) -> RunConfig:
        """This config as one rank of a multi-process run sees it.

        Ranks write ``rank-N/run.json`` and stay quiet; the parent merges the records,
        writes the one report and prints the one summary.
        """
        return dataclasses.replace(
            self,
            out_dir=self.out_dir / f"rank-{rank}",
            rank=rank,
            progress=False,
            report=False,
            summary=False,
        )


def _check_types(cls: type[RunConfig], data: dict[str, Any]) -> None:
    """Each value of its field's type (a bool is not taken for an int; an int is for a float)."""
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        allowed = typing.get_args(hints[name]) or (hints[name],)
        accepted = (*allowed, int) if float in allowed else allowed
        if (type(value) is bool and bool not in allowed) or not isinstance(value, accepted):
            shown = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
            raise RunError(f"{CONFIG_VAR}: {name} must be {shown}, got {value!r}.")
