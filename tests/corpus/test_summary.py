"""The run's summary says how steps were found, and never prints an all-clear after no step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_summary_names_how_steps_were_found(tmp_path: Path) -> None:
    text = _summary(tmp_path, INFERENCE)
    assert "5 (forwards of the outermost module (Linear))" in text
