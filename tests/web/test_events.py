"""Reading events.jsonl as others may write it: invalid lines dropped, partial lines waited for."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from torchwarden.metrics.events import FindingEvent, Header, StatusEvent, StepEvent, parse_line
from torchwarden.metrics.rundir import EventTail, open_run_file

STEP = {"type": "step", "step": 1, "rank": 0, "t": 0.5, "time_s": 0.01,
        "memory": {"cpu": {"rss": 10, "tensor_bytes": None}, "cuda:0": {"allocated": 5}}}  # fmt: skip


def test_valid_lines_become_typed_events() -> None:
    header = parse_line('{"schema": "torchwarden.events/1", "run": "r", "started_at": "t"}')
    assert header == Header("r", "t")
    step = parse_line(json.dumps(STEP))
    assert isinstance(step, StepEvent) and step.memory == {
        "cpu": {"rss": 10},
        "cuda:0": {"allocated": 5},
    }
    finding = parse_line('{"type": "finding", "kind": "leak", "message": "m", "holder": "h"}')
    assert isinstance(finding, FindingEvent) and finding.finding["fix"] == ""
    assert parse_line('{"type": "status", "status": "oom", "exit_code": 1}') == StatusEvent(
        "oom", 1
    )


@pytest.mark.parametrize(
    "change",
    [
        {"step": True}, {"step": "1"}, {"step": 2**64}, {"t": -1}, {"t": float("nan")},
        {"time_s": "fast"}, {"memory": []}, {"memory": {"../../etc": {"rss": 1}}},
        {"memory": {"cuda:0": {"allocated": "lots"}}},
        {"memory": {f"cuda:{i}": {} for i in range(100)}}, {"type": "nope"},
    ],
)  # fmt: skip
def test_invalid_lines_are_dropped(change: dict[str, object]) -> None:
    assert parse_line(json.dumps({**STEP, **change})) is None


def test_other_invalid_lines_are_dropped() -> None:
    for line in ("", "[1, 2]", "{not json", '{"type": "finding", "kind": 3, "message": "m"}',
                 '{"type": "status", "status": "great"}', "[" * 100_000):  # fmt: skip
        assert parse_line(line) is None


def test_tail_waits_for_a_partial_line_and_rereads_a_replaced_file(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(STEP) + "\n" + json.dumps({**STEP, "step": 2})[:20])
    tail = EventTail(tmp_path, uid=os.getuid())
    assert [e.step for e in tail.poll()] == [1]  # type: ignore[union-attr]
    assert tail.poll() == []
    with events.open("a") as f:
        f.write(json.dumps({**STEP, "step": 2})[20:] + "\n")
    assert [e.step for e in tail.poll()] == [2]  # type: ignore[union-attr]
    replacement = tmp_path / "new.jsonl"
    replacement.write_text(json.dumps({**STEP, "step": 9}) + "\n")
    replacement.replace(events)
    assert [e.step for e in tail.poll()] == [9]  # type: ignore[union-attr]


def test_only_known_regular_files_of_the_owner_are_opened(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("x")
    with pytest.raises(FileNotFoundError):
        open_run_file(tmp_path, "secret.txt", os.getuid())
    (tmp_path / "run.json").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(OSError):
        open_run_file(tmp_path, "run.json", os.getuid())
    os.mkfifo(tmp_path / "events.jsonl")
    with pytest.raises(FileNotFoundError):
        open_run_file(tmp_path, "events.jsonl", os.getuid())
    (tmp_path / "report.html").write_text("r")
    with pytest.raises(FileNotFoundError):
        open_run_file(tmp_path, "report.html", os.getuid() + 1)
    os.close(open_run_file(tmp_path, "report.html", os.getuid()))
