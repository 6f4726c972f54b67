"""`torchwarden run` end to end: real subprocesses, real records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.runtime import scripts
from torchwarden.report import validate_run_record

RUN = [sys.executable, "-m", "torchwarden", "run", "--no-progress"]
# examinations placed by steps alone: with the default 2 % time budget, which steps of a
# millisecond-step toy loop get examined would depend on the machine's speed
BY_STEPS = {**os.environ, "TORCHWARDEN_EXAM_BUDGET": "1"}


def _run(
    tmp_path: Path, source: str, *args: str, out: str = "out", **kw: Any
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "train.py").write_text(source)
    return subprocess.run(
        [*RUN, "--out", out, "train.py", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=240, **kw,
    )  # fmt: skip


def _record(tmp_path: Path, out: str = "out") -> dict[str, Any]:
    record = json.loads((tmp_path / out / "run.json").read_text())
    validate_run_record(record)
    return record


def _line(source: str, needle: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if needle in line)


def test_clean_script_ok_no_leak(tmp_path: Path) -> None:
    proc = _run(tmp_path, scripts.CLEAN, "12", "--flag")
    assert proc.returncode == 0, proc.stderr
    assert "argv ['train.py', '12', '--flag'] name __main__" in proc.stdout
    record = _record(tmp_path)
    assert record["status"] == "ok" and record["exit_code"] == 0
    assert [s["step"] for s in record["steps"]] == list(range(1, 13))
    assert not [f for f in record["findings"] if f["kind"] == "leak"]
    assert record["command"] == ["python", "train.py", "12", "--flag"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<svg" in html and "train" in html


def test_leak_into_global_list_named_with_site(tmp_path: Path) -> None:
    proc = _run(tmp_path, scripts.LEAK_LIST, env=BY_STEPS)
    assert proc.returncode == 0, proc.stderr
    leaks = [f for f in _record(tmp_path)["findings"] if f["kind"] == "leak"]
    assert len(leaks) == 1, leaks
    leak = leaks[0]
    assert leak["holder"] == "global history"
    assert leak["site"] == f"train.py:{_line(scripts.LEAK_LIST, 'loss = model')}"
    assert 16 <= leak["step"] <= 26, leak["step"]
    assert "history" in proc.stderr  # the summary names it


def test_validation_total_without_no_grad_retains_graph(tmp_path: Path) -> None:
    proc = _run(tmp_path, scripts.LEAK_GRAPH, env=BY_STEPS)
    assert proc.returncode == 0, proc.stderr
    leaks = [f for f in _record(tmp_path)["findings"] if f["kind"] == "leak"]
    assert leaks, "no leak finding"
    leak = leaks[0]
    assert leak["holder"] == "global val_total"
    assert leak["site"] == f"train.py:{_line(scripts.LEAK_GRAPH, 'val_total = val_total')}"
    assert leak["retains_graph"] and leak["graph_bytes"] > 64 * 256 * 4
    assert "no_grad" in leak["fix"]


def test_crash_keeps_exit_code_and_writes_record(tmp_path: Path) -> None:
    proc = _run(tmp_path, scripts.CRASH)
    assert proc.returncode == 1
    assert "planted failure at step 4" in proc.stderr and 'train.py", line' in proc.stderr
    assert "runpy" not in proc.stderr.split("Traceback", 1)[1].split("ValueError")[0]
    record = _record(tmp_path)
    assert record["status"] == "failed" and record["exit_code"] == 1
    assert len(record["steps"]) == 5


def test_sys_exit_code_is_preserved(tmp_path: Path) -> None:
    proc = _run(tmp_path, "import sys\nsys.exit(7)\n")
    assert proc.returncode == 7
    assert _record(tmp_path)["status"] == "failed"


def test_sigterm_mid_run_writes_interrupted_record(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(scripts.FOREVER)
    proc = subprocess.Popen(
        [*RUN, "--out", "out", "train.py"], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    proc.stdout.close()
    record = _record(tmp_path)
    assert record["status"] == "interrupted"
    assert len(record["steps"]) >= 3  # torchwarden.step() marks steps without an optimizer


def test_module_mode_runs_the_bundled_example_briefly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*RUN, "--out", "ex", "-m", "torchwarden.examples.transformer", "--steps", "20", "--log-every", "10"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout
    record = _record(tmp_path, "ex")
    assert record["summary"]["steps"] == 20
    assert not [f for f in record["findings"] if f["kind"] == "leak"], record["findings"]


@pytest.mark.slow
def test_two_ranks_through_torchrun_merge_into_one_record(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(scripts.DDP)
    proc = subprocess.run(
        [*RUN, "--nproc-per-node", "2", "--out", "ddp", "train.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert {"rank 0 sum 3", "rank 1 sum 3"} <= set(proc.stdout.splitlines()), proc.stdout
    record = _record(tmp_path, "ddp")
    assert record["world_size"] == 2 and record["status"] == "ok"
    assert sorted(r["rank"] for r in record["ranks"]) == [0, 1]
    assert {s["rank"] for s in record["steps"]} == {0, 1}
    assert len(record["steps"]) == 12
    assert (tmp_path / "ddp" / "report.html").is_file()


SYNCS = """\
import torch
import torchwarden
x = torch.ones(8)
total = 0.0
for step in range(5):
    total += float((x * step).sum().item())
    torchwarden.step()
"""


def test_audit_transfers_counts_syncs_per_step(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(SYNCS)
    proc = subprocess.run(
        [*RUN, "--audit-transfers", "--out", "out", "train.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    record = _record(tmp_path)
    assert len(record["steps"]) == 5
    assert all("transfers" in s for s in record["steps"])
