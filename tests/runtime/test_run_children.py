"""A SIGKILLed `torchwarden run` leaves nothing running: the keeper ends the run's processes.

Real runs start real children (a `subprocess` child, a grandchild through a shell, a
`multiprocessing` worker forked from the run, torchrun's ranks); the run is SIGKILLed at
a random moment after they started, and every one of them must be gone within a bounded
number of looks. Processes of another run, or of no run, must survive.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.runtime.lease_helpers import NOBODY, alive, eventually
from torchwarden.report import validate_run_record
from torchwarden.runtime.lease import acquire, parse_gpu_request

RUN = [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--no-leak-check",
       "--no-report"]  # fmt: skip
SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
pytestmark = pytest.mark.timeout(300)

# Starts a child, a grandchild through a shell and a forked multiprocessing worker; writes
# their pids to children.json and prints "ready"; then works until killed (bounded).
CHILDREN = """\
import json, multiprocessing, shlex, subprocess, sys, time
SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
child = subprocess.Popen(SLEEPER)
shell = subprocess.Popen(f"{shlex.join(SLEEPER)} & echo $! > grandchild.pid; wait", shell=True)
worker = multiprocessing.Process(target=time.sleep, args=(600,))
worker.start()
for _ in range(600):
    try:
        grandchild = int(open("grandchild.pid").read())
        break
    except (OSError, ValueError):
        time.sleep(0.05)
pids = [child.pid, shell.pid, grandchild, worker.pid]
open("children.json", "w").write(json.dumps(pids))
print("ready", flush=True)
for _ in range(6000):
    time.sleep(0.1)
"""


@pytest.fixture
def leftovers() -> Iterator[list[psutil.Process]]:
    """Processes a test started or watched; whatever is left is killed at teardown."""
    procs: list[psutil.Process] = []
    yield procs
    for proc in procs:
        if alive(proc):
            proc.kill()


def _start_run(
    directory: Path, *options: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """`torchwarden run OPTIONS train.py` in ``directory``; returns once it printed "ready"."""
    run = subprocess.Popen(
        [*RUN, "--out", "out", *options, "train.py"],
        cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env,
    )  # fmt: skip
    assert run.stdout is not None
    line = run.stdout.readline().strip()
    assert line == "ready", run.communicate()
    return run


def _children(directory: Path, leftovers: list[psutil.Process]) -> list[psutil.Process]:
    pids = json.loads((directory / "children.json").read_text())
    procs = [psutil.Process(pid) for pid in pids]
    leftovers.extend(procs)
    return procs


def _all_end(procs: list[psutil.Process]) -> None:
    """Every process ends within a bounded number of looks; else name the survivors."""
    eventually(lambda: not any(alive(p) for p in procs))
    survivors = [f"{p.pid} {' '.join(p.cmdline())[:80]}" for p in procs if alive(p)]
    assert not survivors, f"still running after the run was killed: {survivors}"


def _kill(run: subprocess.Popen[str], rng: random.Random) -> None:
    time.sleep(rng.uniform(0.0, 0.3))  # a random moment after the children started
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=60)
    for pipe in (run.stdout, run.stderr):  # children that outlive the run may hold them
        if pipe is not None:
            pipe.close()


def test_sigkill_of_the_run_ends_its_children_grandchildren_and_workers(
    tmp_path: Path, leftovers: list[psutil.Process]
) -> None:
    rng = random.Random(10)
    for trial in range(3):
        directory = tmp_path / f"trial-{trial}"
        directory.mkdir()
        (directory / "train.py").write_text(CHILDREN)
        run = _start_run(directory)
        children = _children(directory, leftovers)
        _kill(run, rng)
        _all_end(children)
        _recovered(directory)


def _recovered(directory: Path) -> None:
    """`torchwarden report out` rebuilds the killed run's record, as it always did."""
    rebuilt = subprocess.run([sys.executable, "-m", "torchwarden", "report", "out"],
                             cwd=directory, capture_output=True, text=True)  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr
    record = json.loads((directory / "out" / "run.json").read_text())
    validate_run_record(record)
    assert record["status"] == "interrupted"


def test_processes_of_another_run_or_of_no_run_survive(
    tmp_path: Path, leftovers: list[psutil.Process]
) -> None:
    bystander = subprocess.Popen(SLEEPER)  # this user's, in no run
    leftovers.append(psutil.Process(bystander.pid))
    runs, children = [], []
    for name in ("killed", "other"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.py").write_text(CHILDREN)
        runs.append(_start_run(tmp_path / name))
        children.append(_children(tmp_path / name, leftovers))
    _kill(runs[0], random.Random(1))
    _all_end(children[0])
    assert all(alive(p) for p in children[1]), "a child of another run was ended"
    assert alive(leftovers[0]), "a process of no run was ended"
    runs[1].send_signal(signal.SIGTERM)  # a clean ending still ends its own children
    runs[1].communicate(timeout=120)
    assert runs[1].returncode == 143
    _all_end(children[1])
    bystander.kill()
    bystander.wait()


# Each rank prints its pid; rank 0 says "ready" once both ranks are up.
RANKS = """\
import os, sys, time
import torch.distributed as dist
dist.init_process_group("gloo")
os.write(1, f"rank {os.getpid()}\\n".encode())  # one write: two ranks share the pipe
dist.barrier()
if dist.get_rank() == 0:
    time.sleep(0.2)
    print("ready", flush=True)
for _ in range(6000):
    time.sleep(0.1)
"""


@pytest.mark.slow
def test_sigkill_of_the_launcher_ends_torchrun_and_every_rank(
    tmp_path: Path, leftovers: list[psutil.Process]
) -> None:
    (tmp_path / "train.py").write_text(RANKS)
    with (tmp_path / "stderr").open("w") as stderr:
        run = subprocess.Popen(
            [*RUN, "--nproc-per-node", "2", "--out", "out", "train.py"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
    assert run.stdout is not None
    ranks, lines = [], []
    for line in run.stdout:
        lines.append(line)
        if line.startswith("rank "):
            ranks.append(psutil.Process(int(line.split()[1])))
        if line.strip() == "ready":
            break
    leftovers.extend(ranks)
    if len(ranks) != 2:
        _kill(run, random.Random(2))
        said = (tmp_path / "stderr").read_text()
        pytest.fail(f"the ranks never said they were up (exit {run.returncode}): {lines} {said}")
    torchrun = psutil.Process(ranks[0].ppid())
    leftovers.append(torchrun)
    _kill(run, random.Random(2))
    _all_end([torchrun, *ranks])
    _recovered(tmp_path)  # from the ranks' records (SIGTERM let them write one)


def test_sigkill_of_a_run_holding_a_lease_frees_it_once_its_children_ended(
    tmp_path: Path, leftovers: list[psutil.Process]
) -> None:
    lease_dir = tmp_path / "leases"
    env = {**os.environ, "TORCHWARDEN_FAKE_GPU_COUNT": "1", "TORCHWARDEN_LEASE_DIR": str(lease_dir)}
    (tmp_path / "train.py").write_text(CHILDREN)
    run = _start_run(tmp_path, "--gpus", "1", env=env)
    children = _children(tmp_path, leftovers)
    _kill(run, random.Random(3))
    _all_end(children)
    lease = acquire(parse_gpu_request("0,"), available=[0], lease_dir=lease_dir, wait=True,
                    timeout=60, keeper=False)  # fmt: skip
    lease.release()


# A child as another user (through setpriv, as root can), which inherits the run's token,
# and a child of our own; both pids to children.json.
OTHER_USER = """\
import json, subprocess, sys, time
theirs = subprocess.Popen(json.loads(sys.argv[1]))
ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open("children.json", "w").write(json.dumps([theirs.pid, ours.pid]))
print("ready", flush=True)
for _ in range(6000):
    time.sleep(0.1)
"""


@pytest.mark.skipif(not NOBODY, reason="needs setpriv and root to start a process as uid 65534")
def test_a_process_of_another_user_is_never_signalled(
    tmp_path: Path, leftovers: list[psutil.Process]
) -> None:
    (tmp_path / "train.py").write_text(OTHER_USER)
    theirs_cmd = json.dumps([*NOBODY, "-c", "import time; time.sleep(600)"])
    run = subprocess.Popen(
        [*RUN, "--out", "out", "train.py", theirs_cmd],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert run.stdout is not None and run.stdout.readline().strip() == "ready", run.communicate()
    theirs, ours = _children(tmp_path, leftovers)
    assert eventually(lambda: theirs.uids().real == 65534)
    keeper = _keeper_of(run.pid)
    _kill(run, random.Random(4))
    _all_end([ours, keeper])  # the keeper is done: it ended every process it should
    assert alive(theirs), "a process of another user was signalled"


def _keeper_of(run_pid: int) -> psutil.Process:
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if len(cmdline) > 5 and cmdline[3].endswith("keeper.py") and cmdline[5] == str(run_pid):
            return proc
    raise AssertionError(f"no keeper for run {run_pid}")
