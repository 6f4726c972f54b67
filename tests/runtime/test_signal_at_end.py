"""A signal that arrives just after the script's last line: the record and exit code agree.

The script has ended (or is about to), the runner is writing the record, the command line
is leaving: a SIGTERM, SIGHUP or Ctrl-C in that window must neither lose the record nor
make the exit code disagree with it. Real `torchwarden run` processes, real signals.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from torchwarden.report import validate_run_record

RUN = [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--no-leak-check",
       "--no-report"]  # fmt: skip
# the marker is the script's last line; torch is imported so the run's tear-down is real
LAST_LINE = "import torch\nx = torch.ones(4).sum()\nprint('last line', flush=True)\n"
TRIALS = 6  # per signal: delays 0, then random in [0, 50] ms
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _trial(tmp_path: Path, signum: int, delay_s: float, n: int) -> str | None:
    """One run signalled ``delay_s`` after its marker; what was wrong, or None."""
    out = f"out-{n}"
    proc = subprocess.Popen(
        [*RUN, "--out", out, "train.py"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if delay_s:
        time.sleep(delay_s)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    if line != "last line":
        return f"no marker (got {line!r}); stderr: {err[-400:]}"
    try:
        record = json.loads((tmp_path / out / "run.json").read_text())
        validate_run_record(record)
    except (OSError, ValueError) as e:
        return f"no valid run.json ({e}); exit {proc.returncode}; stderr: {err[-400:]}"
    status, code = record["status"], record["exit_code"]
    if (status, code) not in (("ok", 0), ("interrupted", 128 + signum)):
        return f"record says {status} with exit code {code}"
    if proc.returncode != code:
        return f"record says {status} {code} but the process exited {proc.returncode}"
    return None


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_just_after_the_last_line_keeps_a_true_record(tmp_path: Path, signum: int) -> None:
    (tmp_path / "train.py").write_text(LAST_LINE)
    rng = random.Random(signum)
    delays = [0.0] + [rng.uniform(0.0, 0.05) for _ in range(TRIALS - 1)]
    problems = {}
    for n, delay in enumerate(delays):
        problem = _trial(tmp_path, signum, delay, n)
        if problem is not None:
            problems[f"trial {n} ({delay * 1000:.0f} ms)"] = problem
    assert not problems, f"{len(problems)}/{len(delays)} trials wrong: {problems}"
