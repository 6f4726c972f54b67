"""The run's summary says how steps were found, and prints no all-clear it did not earn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from torchwarden.report import validate_run_record

RUN = [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--no-report"]

NO_STEPS = """\
import torch
x = torch.ones(4)
for _ in range(10):
    x = x * 2
"""

INFERENCE = """\
import torch
from torch import nn
model = nn.Linear(4, 2)
with torch.no_grad():
    for _ in range(5):
        model(torch.randn(3, 4))
"""


def _summary(tmp_path: Path, source: str) -> str:
    (tmp_path / "s.py").write_text(source)
    proc = subprocess.run(
        [*RUN, "--out", "o", "s.py"], cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def test_no_step_is_not_an_all_clear(tmp_path: Path) -> None:
    text = _summary(tmp_path, NO_STEPS)
    assert "not checked: no step ended" in text
    assert "findings     0" not in text
    summary = json.loads((tmp_path / "o" / "run.json").read_text())["summary"]
    assert summary["evidence_note"].startswith("not checked: no step ended")  # report says it


def test_summary_names_how_steps_were_found(tmp_path: Path) -> None:
    text = _summary(tmp_path, INFERENCE)
    assert "5 (forwards of the outermost module (Linear))" in text


TRAIN = """\
import sys
import torch
from torch import nn
model = nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for _ in range(int(sys.argv[1])):
    opt.zero_grad()
    model(torch.randn(8, 4)).pow(2).mean().backward()
    opt.step()
"""


def _run(tmp_path: Path, steps: int, *options: str, env: dict[str, str] | None = None) -> str:
    (tmp_path / "train.py").write_text(TRAIN)
    proc = subprocess.run(
        [sys.executable, "-m", "torchwarden", "run", "--no-progress", *options, "--out", "o",
         "train.py", str(steps)],
        cwd=tmp_path, capture_output=True, text=True, timeout=240, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return " ".join(proc.stderr.split())  # the table wraps long cells


def _record(tmp_path: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((tmp_path / "o" / "run.json").read_text())
    validate_run_record(record)
    return record


def test_a_run_too_short_to_confirm_growth_is_not_an_all_clear(tmp_path: Path) -> None:
    # three steps hold at most one examination whatever the clock says: growth needs three
    text = _run(tmp_path, 3)
    assert "findings 0 — not shown leak-free: 1 of the 3 heap examinations" in text, text
    summary = _record(tmp_path)["summary"]
    assert summary["examinations"] == 1 and "not shown leak-free" in summary["evidence_note"]
    page = (tmp_path / "o" / "report.html").read_text()
    assert "not shown leak-free" in page and "nothing leaked" not in page


def test_a_run_examined_enough_says_no_findings_plainly(tmp_path: Path) -> None:
    text = _run(tmp_path, 30, env={**os.environ, "TORCHWARDEN_EXAM_BUDGET": "1"})
    assert "findings 0 record" in text, text
    summary = _record(tmp_path)["summary"]
    assert summary["examinations"] >= 3 and "evidence_note" not in summary
    assert "nothing leaked or failed" in (tmp_path / "o" / "report.html").read_text()


def test_no_leak_check_is_said_next_to_the_count(tmp_path: Path) -> None:
    text = _run(tmp_path, 5, "--no-leak-check")
    assert "findings 0 — leak check off (--no-leak-check)" in text, text
    summary = _record(tmp_path)["summary"]
    assert "examinations" not in summary
    assert "nothing leaked" not in (tmp_path / "o" / "report.html").read_text()
