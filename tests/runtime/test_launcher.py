"""The launcher of `torchwarden run --nproc-per-node N` starts torchrun without importing torch.

torchrun and every rank import torch themselves; an import in the launcher only
delayed every rank's start by the seconds it takes (issue: ranks start within a
second of plain torchrun, measured by benchmarks/rank_start.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

LAUNCHER = """\
import atexit, sys
atexit.register(lambda: print("launcher imported torch:", "torch" in sys.modules))
sys.argv = ["torchwarden", "run", "--no-progress", "--out", "o", "--nproc-per-node", "1",
            "hello.py"]
from torchwarden.cli import main
main()
"""


def test_launcher_modules_do_not_import_torch() -> None:
    code = (
        "import sys, torchwarden.cli.run, torchwarden.runtime.launch, torchwarden.runtime.finish,"
        " torchwarden.runtime.worker; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_a_launched_run_never_imports_torch_in_the_launcher(tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_text(
        "import torch\nprint('rank ran', torch.ones(2).sum().item())\n"
    )
    (tmp_path / "launcher.py").write_text(LAUNCHER)
    proc = subprocess.run(
        [sys.executable, "launcher.py"], cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr
    assert "rank ran 2.0" in proc.stdout
    assert "launcher imported torch: False" in proc.stdout, proc.stdout
    assert (tmp_path / "o" / "run.json").is_file() and (tmp_path / "o" / "report.html").is_file()
