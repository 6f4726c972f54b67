"""On a GPU, a small Lightning script exits under `torchwarden run` as under python (was 195)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.runtime.lightning_script import SOURCE

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]
pytest.importorskip("lightning")


@pytest.mark.parametrize("flags", [[], ["--no-leak-check"]], ids=["leak-check", "no-leak-check"])
def test_lightning_on_gpu_keeps_the_exit_code(tmp_path: Path, flags: list[str]) -> None:
    (tmp_path / "train.py").write_text(SOURCE)
    plain = subprocess.run([sys.executable, "train.py"], cwd=tmp_path, capture_output=True)
    cmd = [
        sys.executable,
        "-m",
        "torchwarden",
        "run",
        "--no-progress",
        *flags,
        "--out",
        "out",
        "train.py",
    ]
    governed = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert (plain.returncode, governed.returncode) == (0, 0), governed.stderr[-4000:]
