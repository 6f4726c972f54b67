"""events.jsonl written and read back; the bounded series of a long run."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torchwarden.errors import RunError
from torchwarden.metrics.events import parse_line
from torchwarden.runtime.recover import recover
from torchwarden.runtime.series import HEAD, MedianSketch, StepSeries
from torchwarden.runtime.stream import BATCH, EventStream


def step(i: int) -> dict[str, Any]:
    return {
        "step": i,
        "rank": 0,
        "t": i * 0.01,
        "time_s": 0.01,
        "memory": {"cpu": {"rss": 1000 + i}},
    }


def test_every_line_validates_and_at_most_a_batch_is_unwritten(tmp_path: Path) -> None:
    stream = EventStream(tmp_path, "t").open(time.time())
    for i in range(1, 101):
        stream.step(step(i))
    written = (tmp_path / "events.jsonl").read_text().splitlines()
    assert 100 - (len(written) - 1) < BATCH  # what a SIGKILL now would lose
    stream.status("ok", 0)
    stream.close()
    lines = (tmp_path / "events.jsonl").read_bytes().splitlines()
    assert len(lines) == 102 and all(parse_line(line) is not None for line in lines)


def _lines_within(path: Path, count: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        lines = len(path.read_text().splitlines())
        if lines >= count:
            return lines
        time.sleep(0.02)
    return len(path.read_text().splitlines())


def test_a_stalled_run_s_last_steps_are_written_without_another_event(tmp_path: Path) -> None:
    stream = EventStream(tmp_path, "t", flush_s=0.2).open(time.time())
    for i in range(1, 4):  # fewer than a batch, then the run stalls: no further emit
        stream.step(step(i))
    path = tmp_path / "events.jsonl"
    assert len(path.read_text().splitlines()) < 4  # held back at first
    assert _lines_within(path, 4, seconds=30) == 4, "held-back steps were never written"
    stream.close()


def test_recovery_skips_garbage_and_a_partial_last_line(tmp_path: Path) -> None:
    stream = EventStream(tmp_path, "t").open(time.time())
    for i in range(1, 51):
        stream.step(step(i))
    stream.close()
    with open(tmp_path / "events.jsonl", "a") as f:
        f.write('{"type": "step", "step": "x"}\nnot json\n{"type": "step", "step": 5')
    record = recover(tmp_path)
    assert record["summary"]["steps"] == 50
    assert (record["status"], record["exit_code"]) == ("interrupted", None)
    assert record["findings"][0]["kind"] == "killed"


def test_a_stream_of_something_else_is_refused(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text(json.dumps({"schema": "other"}) + "\n")
    with pytest.raises(RunError, match=r"not a torchwarden\.events/1 stream"):
        recover(tmp_path)


def test_series_stays_bounded_and_summaries_cover_every_step() -> None:
    series = StepSeries(limit=512)
    for i in range(1, 100_001):
        series.add(step(i))  # type: ignore[arg-type]
    kept = series.steps()
    assert len(kept) <= 512 + HEAD + 1
    assert [s["step"] for s in kept[:HEAD]] == list(range(1, HEAD + 1))  # start-up whole
    assert kept[-1]["step"] == 100_000
    steps = [s["step"] for s in kept]
    assert steps == sorted(steps)
    summary = series.summary()
    assert summary["steps"] == 100_000 and summary["peak_memory"] == {"cpu": 101_000}


def test_a_step_number_that_goes_back_starts_the_count_again() -> None:
    series = StepSeries()
    for i in (1, 2, 1, 2, 3):  # forwards counted as steps, then optimizer steps from 1
        series.add(step(i))  # type: ignore[arg-type]
    assert [s["step"] for s in series.steps()] == [1, 2, 3]
    assert series.summary()["steps"] == 3


@given(st.lists(st.floats(min_value=0.0, max_value=1e5, allow_nan=False), min_size=1))
def test_the_median_sketch_is_within_a_twentieth_of_a_percent(times: list[float]) -> None:
    sketch = MedianSketch()
    for t in times:
        sketch.add(t)
    ordered = sorted(times)
    low, high = ordered[(len(ordered) - 1) // 2], ordered[len(ordered) // 2]
    found = sketch.median()
    assert found is not None
    # an even count has two middles: the sketch names a value near one of them
    assert any(abs(found - m) <= 5e-4 * m + 1e-300 for m in (low, high)), (found, low, high)


def test_the_median_sketch_stays_small_over_a_million_steps() -> None:
    sketch = MedianSketch()
    for i in range(1_000_000):
        sketch.add(0.010 + (i % 1000) * 1e-5)  # 10–20 ms, every value a different float
    median = sketch.median()
    assert median is not None and abs(median - 0.015) < 0.015 * 1e-3
    assert sketch.count == 1_000_000 and sketch.size < 1000
