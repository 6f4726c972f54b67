"""A million-step run's record: run.json size, write time, and how fast report.html opens.

    python benchmarks/run_record_scale.py [--steps 1000000] [--out DIR]

Synthesises step events (RSS growing slowly, a census every 50 steps), streams them to
events.jsonl and through the bounded series exactly as ``torchwarden run`` does, then
writes run.json and report.html. Both sides are printed: the bounded record, and the
size the unbounded record (every step in run.json) would have had. The page is timed in
headless Chromium against an empty page in the same run (skipped without Chromium).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import describe_device

from torchwarden.report import validate_run_record, write_report
from torchwarden.runtime.environment import environment_summary
from torchwarden.runtime.live import LiveRecord
from torchwarden.runtime.record import RunTimes, build_record, write_json
from torchwarden.runtime.stream import EventStream


def step_event(i: int) -> dict[str, Any]:
    rss = 900 * 2**20 + i * 64 + (i % 7) * 4096  # a slow leak under noise
    cpu: dict[str, Any] = {
        "rss": rss,
        "tensor_bytes": 300 * 2**20 + i * 16 if i % 50 == 0 else None,
    }
    time_s = 2.5 if i == 0 else 0.010 + (i % 13) * 1e-4
    return {
        "step": i + 1,
        "rank": 0,
        "t": round(i * 0.0105 + 2.5, 6),
        "time_s": time_s,
        "memory": {"cpu": cpu},
    }


def record_of(live: LiveRecord, steps: int) -> Any:
    times = RunTimes(time.time() - steps * 0.0105, time.time(), steps * 0.0105)
    return build_record(
        name="scale", command=["python", "train.py"], status="ok", exit_code=0, times=times,
        environment=environment_summary(), steps=live.series.steps(), findings=[],
        summary=live.series.summary(), events="events.jsonl",
    )  # fmt: skip


def page_load_s(chromium: str, page: Path) -> float:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
               "--virtual-time-budget=10000", f"--screenshot={profile}/s.png", page.as_uri()]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(cmd, capture_output=True, timeout=120, check=False)
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--out", help="directory for result.json, run.json and report.html")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="run-record-scale-"))
    out.mkdir(parents=True, exist_ok=True)
    stream = EventStream(out, "scale").open(time.time())
    live = LiveRecord(stream, lambda: record_of(live, 0), lambda r: None, snapshot_s=1e9)
    started = time.perf_counter()
    for i in range(args.steps):
        live.step(step_event(i), [])
    stream_s = time.perf_counter() - started
    live.finish([], "ok", 0)
    record = record_of(live, args.steps)
    validate_run_record(record)
    started = time.perf_counter()
    write_json(out / "run.json", record)
    write_s = time.perf_counter() - started
    report = write_report(record, out / "report.html")
    unbounded = len(json.dumps(step_event(500), indent=1)) * args.steps
    result: dict[str, Any] = {
        "device": describe_device(torch.device("cpu")),  # the record is written on the host
        "steps": args.steps,
        "kept_in_run_json": len(record["steps"]),
        "stream_s_per_step_us": round(stream_s / args.steps * 1e6, 2),
        "events_jsonl_bytes": (out / "events.jsonl").stat().st_size,
        "run_json_bytes": (out / "run.json").stat().st_size,
        "run_json_bytes_if_unbounded": unbounded,
        "run_json_write_s": round(write_s, 4),
        "report_html_bytes": report.stat().st_size,
    }
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        empty = out / "empty.html"
        empty.write_text("<!doctype html><title>empty</title>")
        result["chromium_empty_page_s"] = round(page_load_s(chromium, empty), 3)
        result["chromium_report_s"] = round(page_load_s(chromium, report), 3)
    (out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
