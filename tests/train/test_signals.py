"""SIGTERM ends a worker at once, even while it waits in a collective for a peer that never comes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

WORKER = """
import os, sys, time, torch, torch.distributed as dist
from torchwarden.train import leave_promptly
rank, out = int(sys.argv[1]), sys.argv[2]
dist.init_process_group("gloo", init_method="file://" + out + "/store", rank=rank, world_size=2)
if rank == 1:
    open(out + "/joined", "w").close()
    time.sleep(600)  # alive, connected, and never joins the all-reduce
leave_promptly(lambda s: open(out + "/left", "w").write(f"signal {s}"))
open(out + "/waiting", "w").close()
dist.all_reduce(torch.ones(1))  # blocks in C++: no Python handler runs here
"""


def _wait_for(path: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigterm_leaves_a_blocked_collective_at_once(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(r), str(tmp_path)], env=env)
        for r in (0, 1)
    ]
    try:
        _wait_for(tmp_path / "waiting", procs[0])
        time.sleep(0.5)  # let rank 0 enter the all-reduce
        procs[0].send_signal(signal.SIGTERM)
        assert procs[0].wait(timeout=30) == 128 + signal.SIGTERM
        assert (tmp_path / "left").read_text() == f"signal {int(signal.SIGTERM)}"
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_must_be_called_from_the_main_thread() -> None:
    import threading

    from torchwarden.train import TrainArgumentError, leave_promptly

    errors: list[BaseException] = []

    def call() -> None:
        try:
            leave_promptly()
        except TrainArgumentError as exc:
            errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    t.join()
    assert errors and "main thread" in str(errors[0])
