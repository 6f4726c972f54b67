"""The run record (``run.json``, schema ``torchwarden.run/1``) and its validation.

docs/run-schema.md documents every field, and ``run_record.py`` types them. Validation
checks what the report and other tools rely on: required fields, their types, and the
enumerations. Each object's check is built against its typed dictionary (:func:`shape`),
so the validator and the writer cannot drift apart. Extra fields are allowed, so a
minor addition within ``/1`` does not break older readers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast, get_args

from torchwarden.errors import ReportError
from torchwarden.report.checks import (
    BOOL,
    BYTES,
    INT,
    OBJECT,
    SECONDS,
    STR,
    TIME,
    Check,
    fail,
    is_int,
    join,
    list_of,
    null,
    obj,
    of,
    shape,
)
from torchwarden.report.run_record import (
    Artifacts,
    AttemptRecord,
    CpuMemory,
    CudaMemory,
    EnvironmentSummary,
    GpuSummary,
    RankRecord,
    RunRecord,
    RunStatus,
    StepRecord,
    Summary,
)

__all__ = ["RUN_SCHEMA", "STATUSES", "load_run_record", "validate_run_record"]

RUN_SCHEMA = "torchwarden.run/1"
STATUSES: tuple[str, ...] = get_args(RunStatus)
STATUS = of(f"one of {', '.join(STATUSES)}", lambda v: v in STATUSES)


def validate_run_record(record: Mapping[str, Any]) -> None:
    """Raise :class:`ReportError` naming the first field that does not match the schema."""
    if not isinstance(record, Mapping):
        raise ReportError(f"run record: expected a JSON object, got {type(record).__name__}.")
    schema = record.get("schema")
    if schema != RUN_SCHEMA:
        raise ReportError(
            f"run record: schema is {schema!r}, this torchwarden reads {RUN_SCHEMA!r}. "
            "Open it with the torchwarden version that wrote it, or re-run to write a new one."
        )
    RUN(record, "")


def load_run_record(path: Path) -> RunRecord:
    """Read and validate a ``run.json``."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ReportError(f"Cannot read the run record {path}: {e}.") from None
    validate_run_record(record)
    return cast(RunRecord, record)


def _by_device(value: Any, path: str, check: Callable[[str], Check]) -> None:
    if not isinstance(value, Mapping):
        raise fail(path, "an object keyed by device ('cpu', 'cuda:0', ...)", value)
    for device, item in value.items():
        check(device)(item, join(path, device))


def _memory(value: Any, path: str) -> None:
    """``{"cpu": {...}, "cuda:0": {...}}``: the CPU's counters, or a CUDA device's."""
    _by_device(value, path, lambda device: CPU_MEMORY if device == "cpu" else CUDA_MEMORY)


def _peak_memory(value: Any, path: str) -> None:
    _by_device(value, path, lambda device: BYTES)


def _finding(value: Any, path: str) -> None:
    obj(FINDING, optional=WHERE)(value, path)
    extra = KIND_FIELDS.get(value["kind"])
    if extra is not None:
        obj(extra)(value, path)


CPU_MEMORY = shape(CpuMemory, {"rss": BYTES, "tensor_bytes": null(BYTES)})
CUDA_MEMORY = shape(CudaMemory, {"allocated": BYTES, "reserved": BYTES, "peak_allocated": BYTES})
WHERE = {"step": null(INT), "rank": null(INT)}
FINDING = {"kind": STR, "message": STR, "fix": STR}
LEAK = {
    "holder": STR,
    "site": null(STR),
    "nbytes": BYTES,
    "device": STR,
    "retains_graph": BOOL,
    "graph_bytes": null(BYTES),
}
TOP_TENSOR = {
    "holder": STR,
    "site": null(STR),
    "nbytes": BYTES,
    "shape": list_of(INT),
    "dtype": STR,
}
OOM = {
    "requested_bytes": null(BYTES),
    "free_bytes": null(BYTES),
    "reserved_unallocated_bytes": null(BYTES),
    "largest_free_block_bytes": null(BYTES),
    "verdict": STR,
    "snapshot": null(STR),
    "top_tensors": list_of(obj(TOP_TENSOR)),
}
KIND_FIELDS = {"leak": LEAK, "oom": OOM}
GPU = shape(GpuSummary, {"index": INT, "name": STR, "memory_total": BYTES})
ENVIRONMENT = shape(
    EnvironmentSummary,
    {
        "python": STR,
        "platform": STR,
        "hostname": STR,
        "torch": null(STR),
        "cuda": null(STR),
        "driver": null(STR),
        "gpus": list_of(GPU),
        "cuda_visible_devices": null(STR),
    },
)
RANK = shape(
    RankRecord,
    {"rank": INT, "pid": null(INT), "status": STATUS, "exit_code": null(INT), "steps": INT},
)
STEP = shape(
    StepRecord,
    {
        "step": INT,
        "rank": INT,
        "t": SECONDS,
        "time_s": null(SECONDS),
        "memory": _memory,
        "transfers": OBJECT,
    },
)
ATTEMPT = shape(
    AttemptRecord,
    {
        "attempt": INT,
        "ranks": INT,
        "failed_rank": null(INT),
        "how": null(STR),
        "step": null(INT),
        "resumed_from": null(INT),
    },
)
ARTIFACTS = shape(Artifacts, {"report": null(STR), "snapshot": null(STR), "events": null(STR)})
SUMMARY = shape(
    Summary,
    {
        "steps": INT,
        "median_step_s": null(SECONDS),
        "peak_memory": _peak_memory,
        "step_source": STR,
        "examinations": INT,
        "evidence_note": STR,
    },
)
RUN = shape(
    RunRecord,
    {
        "schema": STR,
        "name": STR,
        "command": list_of(STR, non_empty=True),
        "status": STATUS,
        "exit_code": null(INT),
        "started_at": TIME,
        "ended_at": TIME,
        "duration_s": SECONDS,
        "environment": ENVIRONMENT,
        "world_size": of("an integer >= 1", lambda v: is_int(v) and v >= 1),
        "ranks": list_of(RANK),
        "steps": list_of(STEP),
        "findings": list_of(_finding),
        "artifacts": ARTIFACTS,
        "summary": SUMMARY,
        "attempts": list_of(ATTEMPT),
    },
)
