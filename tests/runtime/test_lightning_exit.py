"""The exit code is the script's, also for a real Lightning script (CPU here; GPU in tests/gpu)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.lightning_script import SOURCE

pytest.importorskip("lightning")


@pytest.mark.parametrize("code", [0])  # 0: the code the bug on GPU turned into 195
def test_lightning_script_exits_as_under_python(tmp_path: Path, code: int) -> None:
    (tmp_path / "train.py").write_text(SOURCE)
    plain = subprocess.run(
        [sys.executable, "train.py", str(code)], cwd=tmp_path, capture_output=True
    )
    cmd = [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--no-report", "--out", "out",
           "train.py", str(code)]  # fmt: skip
    governed = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert plain.returncode == code
    assert governed.returncode == code, governed.stderr[-3000:]
    assert f'"exit_code": {code}' in (tmp_path / "out" / "run.json").read_text()
