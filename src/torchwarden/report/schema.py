"""The run record (``run.json``, schema ``torchwarden.run/1``) and its validation.

docs/run-schema.md documents every field, and ``run_record.py`` types them. Validation
checks what the report and other tools rely on: required fields, their types, and the
enumerations. Each object's check is built against its typed dictionary (:func:`_shape`),
so the validator and the writer cannot drift apart. Extra fields are allowed, so a
minor addition within ``/1`` does not break older readers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, cast, get_args

from torchwarden.errors import ReportError
from torchwarden.report.run_record import (
    Artifacts,
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

Check = Callable[[Any, str], None]


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


def _fail(path: str, expected: str, value: Any) -> ReportError:
    shown = repr(value) if len(repr(value)) < 60 else f"{type(value).__name__} {repr(value)[:50]}…"
    return ReportError(f"run record: {path or 'the record'} must be {expected}, got {shown}.")


def _of(expected: str, test: Callable[[Any], bool]) -> Check:
    def check(value: Any, path: str) -> None:
        if not test(value):
            raise _fail(path, expected, value)

    return check


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_time(v: Any) -> bool:
    try:  # fromisoformat takes "Z" only from Python 3.11
        datetime.fromisoformat(v.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return False
    return True


STR = _of("a string", lambda v: isinstance(v, str))
INT = _of("an integer", _is_int)
BYTES = _of("an integer number of bytes >= 0", lambda v: _is_int(v) and v >= 0)
SECONDS = _of("a number of seconds >= 0", lambda v: _is_number(v) and v >= 0)
BOOL = _of("true or false", lambda v: isinstance(v, bool))
TIME = _of("an ISO 8601 time such as '2026-11-21T12:00:00Z'", _is_time)
STATUS = _of(f"one of {', '.join(STATUSES)}", lambda v: v in STATUSES)


def _null(check: Check) -> Check:
    def nullable(value: Any, path: str) -> None:
        if value is not None:
            try:
                check(value, path)
            except ReportError as e:  # say that null was allowed too
                raise ReportError(str(e).replace(", got", " (or null), got", 1)) from None

    return nullable


def _object(fields: Mapping[str, Check], *, optional: Mapping[str, Check] | None = None) -> Check:
    """A JSON object with ``fields`` (all required) and ``optional`` ones checked if present."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            raise _fail(path, "an object", value)
        for key, field_check in fields.items():
            if key not in value:
                raise ReportError(f"run record: {_join(path, key)} is missing.")
            field_check(value[key], _join(path, key))
        for key, field_check in (optional or {}).items():
            if key in value:
                field_check(value[key], _join(path, key))

    return check


def _shape(typed: Any, checks: Mapping[str, Check]) -> Check:
    """The check of a typed dictionary: its required keys present, its optional ones if there."""
    required, optional = typed.__required_keys__, typed.__optional_keys__
    if set(checks) != required | optional:  # a field added to one side only
        raise TypeError(
            f"{typed.__name__}: checks for {sorted(checks)}, keys {sorted(required | optional)}"
        )
    return _object(
        {k: c for k, c in checks.items() if k in required},
        optional={k: c for k, c in checks.items() if k in optional},
    )


def _list(item: Check, *, non_empty: bool = False) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, list) or (non_empty and not value):
            raise _fail(path, "a non-empty list" if non_empty else "a list", value)
        for i, element in enumerate(value):
            item(element, f"{path}[{i}]")

    return check


def _join(path: str, key: str) -> str:
    return key if not path else f"{path}.{key}" if key.isidentifier() else f"{path}[{key!r}]"


def _by_device(value: Any, path: str, check: Callable[[str], Check]) -> None:
    if not isinstance(value, Mapping):
        raise _fail(path, "an object keyed by device ('cpu', 'cuda:0', ...)", value)
    for device, item in value.items():
        check(device)(item, _join(path, device))


def _memory(value: Any, path: str) -> None:
    """``{"cpu": {...}, "cuda:0": {...}}``: the CPU's counters, or a CUDA device's."""
    _by_device(value, path, lambda device: CPU_MEMORY if device == "cpu" else CUDA_MEMORY)


def _peak_memory(value: Any, path: str) -> None:
    _by_device(value, path, lambda device: BYTES)


def _finding(value: Any, path: str) -> None:
    _object(FINDING, optional=WHERE)(value, path)
    extra = KIND_FIELDS.get(value["kind"])
    if extra is not None:
        _object(extra)(value, path)


CPU_MEMORY = _shape(CpuMemory, {"rss": BYTES, "tensor_bytes": _null(BYTES)})
CUDA_MEMORY = _shape(CudaMemory, {"allocated": BYTES, "reserved": BYTES, "peak_allocated": BYTES})
WHERE = {"step": _null(INT), "rank": _null(INT)}
FINDING = {"kind": STR, "message": STR, "fix": STR}
LEAK = {
    "holder": STR,
    "site": _null(STR),
    "nbytes": BYTES,
    "device": STR,
    "retains_graph": BOOL,
    "graph_bytes": _null(BYTES),
}
TOP_TENSOR = {
    "holder": STR,
    "site": _null(STR),
    "nbytes": BYTES,
    "shape": _list(INT),
    "dtype": STR,
}
OOM = {
    "requested_bytes": _null(BYTES),
    "free_bytes": _null(BYTES),
    "reserved_unallocated_bytes": _null(BYTES),
    "largest_free_block_bytes": _null(BYTES),
    "verdict": STR,
    "snapshot": _null(STR),
    "top_tensors": _list(_object(TOP_TENSOR)),
}
KIND_FIELDS = {"leak": LEAK, "oom": OOM}
OBJECT = _of("an object", lambda v: isinstance(v, Mapping))
GPU = _shape(GpuSummary, {"index": INT, "name": STR, "memory_total": BYTES})
ENVIRONMENT = _shape(
    EnvironmentSummary,
    {
        "python": STR,
        "platform": STR,
        "hostname": STR,
        "torch": _null(STR),
        "cuda": _null(STR),
        "driver": _null(STR),
        "gpus": _list(GPU),
        "cuda_visible_devices": _null(STR),
    },
)
RANK = _shape(
    RankRecord,
    {"rank": INT, "pid": _null(INT), "status": STATUS, "exit_code": _null(INT), "steps": INT},
)
STEP = _shape(
    StepRecord,
    {
        "step": INT,
        "rank": INT,
        "t": SECONDS,
        "time_s": _null(SECONDS),
        "memory": _memory,
        "transfers": OBJECT,
    },
)
ARTIFACTS = _shape(Artifacts, {"report": _null(STR), "snapshot": _null(STR)})
SUMMARY = _shape(
    Summary, {"steps": INT, "median_step_s": _null(SECONDS), "peak_memory": _peak_memory}
)
RUN = _shape(
    RunRecord,
    {
        "schema": STR,
        "name": STR,
        "command": _list(STR, non_empty=True),
        "status": STATUS,
        "exit_code": _null(INT),
        "started_at": TIME,
        "ended_at": TIME,
        "duration_s": SECONDS,
        "environment": ENVIRONMENT,
        "world_size": _of("an integer >= 1", lambda v: _is_int(v) and v >= 1),
        "ranks": _list(RANK),
        "steps": _list(STEP),
        "findings": _list(_finding),
        "artifacts": ARTIFACTS,
        "summary": SUMMARY,
    },
)
