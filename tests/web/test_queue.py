"""Runs waiting for a GPU: real `torchwarden run --wait` processes, queued in the index and
on the machine page, then running; killed while waiting (lost); giving up (gave-up)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.web.conftest import Server
from torchwarden.runtime.index import RunRow, list_runs
from torchwarden.runtime.lease import acquire, parse_gpu_request

RUN = [sys.executable, "-m", "torchwarden", "run", "--no-progress"]
XSS = "<img src=x onerror=alert(1)>"
# ready as soon as it runs; ends when its gate file appears (bounded: 10 minutes)
GATED = """\
import pathlib, sys, time
print("ready", flush=True)
gate = pathlib.Path(sys.argv[1])
for _ in range(6000):
    if gate.exists():
        break
    time.sleep(0.1)
"""
T = TypeVar("T")


def _until(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def _row(index: Path, pid: int, status: str) -> Callable[[], RunRow | None]:
    def probe() -> RunRow | None:
        rows = [r for r in list_runs(index_dir=index) if r.pid == pid and r.status == status]
        return rows[0] if rows else None

    return probe


@dataclass
class Queue:
    """Where a queued run starts: GPU 0 of one stand-in GPU is held by this test."""

    cwd: Path
    env: dict[str, str]
    index: Path


@pytest.fixture
def held_gpu(tmp_path: Path) -> Iterator[Queue]:
    (tmp_path / "train.py").write_text(GATED)
    env = {
        **os.environ, "TORCHWARDEN_FAKE_GPU_COUNT": "1",
        "TORCHWARDEN_LEASE_DIR": str(tmp_path / "leases"),
        "TORCHWARDEN_INDEX": str(tmp_path / "index"),
    }  # fmt: skip
    lease = acquire(parse_gpu_request("1"), available=[0], lease_dir=tmp_path / "leases")
    yield Queue(tmp_path, env, tmp_path / "index")
    lease.release()


class Started:
    """A `torchwarden run` process of the gated script, and its gate."""

    def __init__(self, cwd: Path, env: dict[str, str], out: str, *options: str) -> None:
        self.gate = cwd / f"go-{out}"
        self.proc = subprocess.Popen(
            [*RUN, *options, "--out", out, "train.py", str(self.gate), XSS],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip

    def ready(self) -> None:
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def end(self) -> int:
        self.gate.touch()
        return self.proc.wait(timeout=120)

    def close(self) -> None:
        self.proc.kill()
        self.proc.communicate()


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.loads(answer.read())


def test_a_waiting_run_is_queued_on_the_page_then_runs(
    server: Server, page: Any, tmp_path: Path
) -> None:
    env = {
        **os.environ, "TORCHWARDEN_FAKE_GPU_COUNT": "1",
        "TORCHWARDEN_LEASE_DIR": str(server.lease_dir), "TORCHWARDEN_INDEX": str(server.index),
    }  # fmt: skip
    (tmp_path / "train.py").write_text(GATED)
    holder = Started(tmp_path, env, "a", "--gpus", "1")
    waiter = None
    try:
        holder.ready()
        waiter = Started(tmp_path, env, "b", "--gpus", "1", "--wait")
        row = _until("the waiter's row, waiting", _row(server.index, waiter.proc.pid, "waiting"))
        assert (row.asked, row.gpus, row.out_dir) == ("1", (), tmp_path / "b")
        assert row.out_dir.is_dir() and XSS in row.command
        queue = _get(f"{server.base}/api/machine")["queue"]
        assert [(q["pid"], q["asked"], q["status"]) for q in queue] == [
            (waiter.proc.pid, "1", "waiting")
        ]
        page.goto(f"{server.base}/")
        shown = page.locator('table[data-table="queue"]').inner_text()
        assert str(waiter.proc.pid) in shown and "any 1 GPU" in shown and XSS in shown
        assert page.locator("main img").count() == 0  # the command is text, not markup
        assert holder.end() == 0
        waiter.ready()  # it got the lease and runs
        row = _until("the waiter running", _row(server.index, waiter.proc.pid, "running"))
        assert row.gpus == (0,)
        with urllib.request.urlopen(f"{server.base}/runs/{row.id}", timeout=30) as answer:
            assert "<td>any 1 GPU</td>" in answer.read().decode()  # what it queued for
        empty = page.locator('table[data-table="queue"] td.empty')
        empty.filter(has_text="Nobody is waiting").wait_for(timeout=15_000)  # live update
        assert waiter.end() == 0
        _until("the waiter finished", _row(server.index, waiter.proc.pid, "ok"))
    finally:
        for started in (holder, waiter):
            if started is not None:
                started.close()


@contextmanager
def queued(queue: Queue, out: str, gpus: str) -> Iterator[tuple[Started, RunRow]]:
    """A `run --gpus GPUS --wait` process, once the index lists it as waiting."""
    waiter = Started(queue.cwd, queue.env, out, "--gpus", gpus, "--wait")
    try:
        yield waiter, _until("a waiting row", _row(queue.index, waiter.proc.pid, "waiting"))
    finally:
        waiter.close()


def test_a_run_killed_while_waiting_shows_as_lost(held_gpu: Queue) -> None:
    with queued(held_gpu, "w", "0,") as (waiter, row):
        assert row.asked == "0,"
        waiter.proc.send_signal(signal.SIGKILL)
        waiter.proc.wait(timeout=30)
        lost = _row(held_gpu.index, waiter.proc.pid, "lost")()
    assert lost is not None and lost.id == row.id and lost.ended_at is None


def test_sigterm_while_waiting_stops_the_wait(held_gpu: Queue) -> None:
    with queued(held_gpu, "s", "1") as (waiter, row):
        waiter.proc.send_signal(signal.SIGTERM)
        assert waiter.proc.wait(timeout=60) == 128 + signal.SIGTERM  # not after the lease
        ended = _row(held_gpu.index, waiter.proc.pid, "interrupted")()
    assert ended is not None and ended.id == row.id and ended.exit_code == 143
    assert not (held_gpu.cwd / "s").exists()


def test_a_run_that_stops_waiting_ends_gave_up(held_gpu: Queue) -> None:
    proc = subprocess.run(
        [*RUN, "--gpus", "1", "--wait", "--wait-timeout", "1", "--out", "t", "train.py", "g"],
        cwd=held_gpu.cwd, capture_output=True, text=True, env=held_gpu.env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "gave up" in proc.stderr and "--wait-timeout" in proc.stderr
    (row,) = list_runs(index_dir=held_gpu.index)
    assert (row.status, row.exit_code, row.asked) == ("gave-up", 2, "1")
    assert row.ended_at is not None
    assert not (held_gpu.cwd / "t").exists()  # the directory it never used is gone
