"""validate_run_record: the record the runner writes passes; each kind of mistake is named."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from torchwarden.errors import ReportError
from torchwarden.report import load_run_record, validate_run_record

Record = dict[str, Any]


def test_a_full_record_is_valid(record: Record) -> None:
    validate_run_record(record)


def test_an_empty_run_is_valid(make: Callable[..., Record]) -> None:
    record = make(steps=0, ranks=1, findings=False)
    record["summary"] |= {"steps": 0, "median_step_s": None, "peak_memory": {}}
    validate_run_record(record)


def _set(path: str, value: Any) -> Callable[[Record], None]:
    def mutate(record: Record) -> None:
        *parents, last = path.split("/")
        target: Any = record
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        target[last] = value

    return mutate


def _drop(path: str) -> Callable[[Record], None]:
    def mutate(record: Record) -> None:
        *parents, last = path.split("/")
        target: Any = record
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        del target[last]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            _set("schema", "torchwarden.run/2"),
            r"schema is 'torchwarden.run/2', this torchwarden reads 'torchwarden.run/1'",
        ),
        (_drop("status"), r"run record: status is missing\."),
        (
            _set("status", "crashed"),
            r"status must be one of ok, failed, interrupted, oom, running, got 'crashed'",
        ),
        (_set("command", []), r"command must be a non-empty list"),
        (_set("started_at", "yesterday"), r"started_at must be an ISO 8601 time"),
        (_set("duration_s", -1), r"duration_s must be a number of seconds >= 0"),
        (_set("world_size", 0), r"world_size must be an integer >= 1"),
        (
            _set("environment/gpus/0/index", "0"),
            r"environment\.gpus\[0\]\.index must be an integer, got '0'",
        ),
        (
            _set("steps/3/memory/cuda:0/allocated", -5),
            r"steps\[3\]\.memory\['cuda:0'\]\.allocated must be an integer number of bytes >= 0",
        ),
        (
            _set("steps/1/memory/cpu/tensor_bytes", "big"),
            r"steps\[1\]\.memory\.cpu\.tensor_bytes must be .* \(or null\), got 'big'",
        ),
        (_set("steps/0/time_s", "fast"), r"steps\[0\]\.time_s must be a number of seconds"),
        (
            _set("findings/0/nbytes", True),
            r"findings\[0\]\.nbytes must be an integer number of bytes",
        ),
        (_drop("findings/0/holder"), r"findings\[0\]\.holder is missing"),
        (
            _set("findings/1/top_tensors/0/shape", [2, "3"]),
            r"findings\[1\]\.top_tensors\[0\]\.shape\[1\] must be an integer",
        ),
        (_drop("findings/2/fix"), r"findings\[2\]\.fix is missing"),
        (_set("ranks/1/status", "dead"), r"ranks\[1\]\.status must be one of"),
        (
            _set("summary/peak_memory/cpu", 1.5),
            r"summary\.peak_memory\.cpu must be an integer number of bytes",
        ),
        (_set("artifacts", None), r"artifacts must be an object, got None"),
    ],
)
def test_mistakes_name_the_field(
    record: Record, mutate: Callable[[Record], None], message: str
) -> None:
    mutate(record)
    with pytest.raises(ReportError, match=message):
        validate_run_record(record)


def test_not_an_object() -> None:
    with pytest.raises(ReportError, match=r"expected a JSON object, got list"):
        validate_run_record([])  # type: ignore[arg-type]


def test_load_run_record(record: Record, tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(record))
    assert load_run_record(path) == record
    path.write_text("{not json")
    with pytest.raises(ReportError, match=r"Cannot read the run record .*run\.json"):
        load_run_record(path)


def test_transfers_of_a_step_must_be_an_object(record: Record) -> None:
    record["steps"][0]["transfers"] = {"syncs": 1}
    validate_run_record(record)
    record["steps"][0]["transfers"] = 3
    with pytest.raises(ReportError, match=r"steps\[0\]\.transfers must be an object"):
        validate_run_record(record)


def test_validator_and_typed_record_cannot_drift() -> None:
    """Each object's check is built from its typed dictionary; a key on one side only fails."""
    from torchwarden.report.checks import STR, shape
    from torchwarden.report.run_record import Artifacts

    with pytest.raises(ReportError, match=r"Artifacts: checks for \['report'\]"):
        shape(Artifacts, {"report": STR})


def test_findings_read_back_into_their_classes(record: Record) -> None:
    from torchwarden.findings import LeakFinding, OOMFinding, finding_from_dict

    leak, oom = (finding_from_dict(f) for f in record["findings"][:2])
    assert isinstance(leak, LeakFinding) and leak.holder == "global history[3]"
    assert isinstance(oom, OOMFinding) and oom.top_tensors[0].shape == (8192, 32768)
