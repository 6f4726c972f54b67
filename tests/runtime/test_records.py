"""Records that survive: killed runs, signals at awkward moments, concurrent runs, full disks.

Real `torchwarden run` processes, real signals; what was lost is counted (the goal is zero).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.tmpfs import small_tmpfs
from torchwarden.report import validate_run_record

RUN = [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--no-leak-check"]
REPORT = [sys.executable, "-m", "torchwarden", "report"]

# N optimizer steps, then a marker file, then a long sleep (the test signals it there)
STEPS_THEN_WAIT = """\
import sys, time, torch
from torch import nn
model = nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for i in range(int(sys.argv[1])):
    opt.zero_grad()
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
open("marker", "w").close()
time.sleep(120)
"""


def _start(tmp_path: Path, source: str, *args: str, out: str = "out") -> subprocess.Popen[str]:
    (tmp_path / "train.py").write_text(source)
    return subprocess.Popen(
        [*RUN, "--no-report", "--out", out, "train.py", *args],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for(path: Path, proc: subprocess.Popen[str], limit_s: float = 180) -> None:
    deadline = time.monotonic() + limit_s  # a bound on the loop, not an assertion on speed
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _record(directory: Path) -> dict[str, Any]:
    record = json.loads((directory / "run.json").read_text())
    validate_run_record(record)
    return record


def test_sigkill_after_1000_steps_keeps_at_least_990(tmp_path: Path) -> None:
    proc = _start(tmp_path, STEPS_THEN_WAIT, "1000")
    _wait_for(tmp_path / "marker", proc)
    proc.kill()
    proc.communicate(timeout=30)
    rebuilt = subprocess.run([*REPORT, "out"], cwd=tmp_path, capture_output=True, text=True)
    assert rebuilt.returncode == 0, rebuilt.stderr
    record = _record(tmp_path / "out")
    assert record["summary"]["steps"] >= 990, record["summary"]  # at most 10 of 1,000 lost
    assert record["status"] == "interrupted" and record["exit_code"] is None
    assert record["findings"][0]["kind"] == "killed"
    assert (tmp_path / "out" / "report.html").is_file()


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM])
def test_signal_mid_run_leaves_an_interrupted_record(tmp_path: Path, signum: int) -> None:
    proc = _start(tmp_path, STEPS_THEN_WAIT, "5")
    _wait_for(tmp_path / "marker", proc)
    proc.send_signal(signum)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum
    record = _record(tmp_path / "out")
    assert (record["status"], record["exit_code"]) == ("interrupted", 128 + signum)
    assert record["summary"]["steps"] >= 5  # (step detection may count a first forward)
    events = (tmp_path / "out" / "events.jsonl").read_text().splitlines()
    assert json.loads(events[-1]) == {
        "type": "status",
        "status": "interrupted",
        "exit_code": 128 + signum,
    }


def test_signal_during_start_up_leaves_a_record_and_never_starts_the_script(tmp_path: Path) -> None:
    proc = _start(tmp_path, STEPS_THEN_WAIT, "5")
    _wait_for(tmp_path / "out", proc)  # the run directory exists: set-up is under way
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert _record(tmp_path / "out")["status"] == "interrupted"
    assert not (tmp_path / "marker").exists()


CHILD_IGNORING_TERM = """\
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(120)"],
    stdout=subprocess.PIPE)
child.stdout.readline()
open("child.pid", "w").write(str(child.pid))
open("marker", "w").close()
time.sleep(120)
"""


def test_second_ctrl_c_while_a_child_is_reaped(tmp_path: Path) -> None:
    proc = _start(tmp_path, CHILD_IGNORING_TERM)
    _wait_for(tmp_path / "marker", proc)
    child = psutil.Process(int((tmp_path / "child.pid").read_text()))
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)  # the runner is now reaping the child, which ignores SIGTERM
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert _record(tmp_path / "out")["status"] == "interrupted"
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def test_six_concurrent_runs_of_one_script_keep_six_records(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('ran')\n")
    cmd = [*RUN, "--no-report", "train.py"]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, stderr=subprocess.DEVNULL) for _ in range(6)]
    assert [p.wait(timeout=240) for p in procs] == [0] * 6
    records = sorted((tmp_path / "runs").glob("*/run.json"))
    assert len(records) == 6
    assert not list((tmp_path / "runs").glob("*/.*tmp"))


def test_failed_run_records_its_exception_with_the_users_line(tmp_path: Path) -> None:
    source = "import torch\nx = torch.ones(2)\nraise ValueError(f'bad batch {x.sum()}')\n"
    (tmp_path / "train.py").write_text(source)
    proc = subprocess.run(
        [*RUN, "--out", "out", "train.py"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 1
    record = _record(tmp_path / "out")
    finding = record["findings"][0]
    assert (finding["kind"], finding["exc_type"]) == ("exception", "ValueError")
    assert finding["site"].endswith("train.py:3")
    assert "bad batch" in finding["message"]
    page = (tmp_path / "out" / "report.html").read_text()
    assert "ValueError" in page and "No findings" not in page


def test_failed_exit_code_is_never_reported_as_nothing_failed(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import sys\nsys.exit(3)\n")
    proc = subprocess.run([*RUN, "--out", "out", "train.py"], cwd=tmp_path, capture_output=True)
    assert proc.returncode == 3
    page = (tmp_path / "out" / "report.html").read_text()
    assert "nothing leaked or failed" not in page
    assert "exit code 3" in page


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", "64k") as mount:
        yield mount


def test_disk_full_is_a_clear_error_that_keeps_the_exit_code(
    tmp_path: Path, tiny_disk: Path
) -> None:
    source = STEPS_THEN_WAIT.replace('open("marker", "w").close()\ntime.sleep(120)', "sys.exit(5)")
    (tmp_path / "train.py").write_text(source)
    cmd = [*RUN, "--out", str(tiny_disk / "run"), "train.py", "400"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 5, proc.stderr
    assert "torchwarden: error: Cannot write" in proc.stderr
    assert "Traceback" not in proc.stderr
    left = [p.name for p in (tiny_disk / "run").iterdir() if p.name.endswith(".tmp")]
    assert left == []
