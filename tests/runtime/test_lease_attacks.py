"""A hostile local user (or a careless cleaner) against the lease directory: real processes."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.runtime.lease_helpers import CHILD, HOLDER, alive, eventually, start, stop
from torchwarden.errors import LeaseError
from torchwarden.runtime.lease import acquire, holders, parse_gpu_request
from torchwarden.runtime.lease_files import LeaseDir

FOUR = range(4)
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def lease_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "leases"
    directory.mkdir()
    directory.chmod(0o1777)
    return directory


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        stop(proc)


def _take(lease_dir: Path, spec: str = "0,") -> None:
    with acquire(parse_gpu_request(spec), available=FOUR, lease_dir=lease_dir, keeper=False):
        pass


def test_a_symlink_at_the_lock_path_is_refused(lease_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (lease_dir / "gpu-0.lock").symlink_to(victim)
    with pytest.raises(LeaseError, match=r"gpu-0.lock is a symbolic link.*Remove it"):
        _take(lease_dir)
    assert victim.read_text() == "precious"
    assert holders(lease_dir, [0]) == {0: None}  # shown as free, no crash


def test_a_symlinked_lease_directory_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "leases").symlink_to(elsewhere)
    with pytest.raises(LeaseError, match=r"is a symbolic link or not a directory"):
        _take(tmp_path / "leases")
    with pytest.raises(LeaseError, match=r"symbolic link"):
        holders(tmp_path / "leases", [0])
    assert list(elsewhere.iterdir()) == []


def test_a_hard_link_at_the_lock_path_is_refused(lease_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.link(victim, lease_dir / "gpu-0.lock")
    with pytest.raises(LeaseError, match=r"has 2 hard links"):
        _take(lease_dir)
    assert victim.read_text() == "precious"


def test_a_fifo_at_the_lock_path_is_refused_without_hanging(lease_dir: Path) -> None:
    os.mkfifo(lease_dir / "gpu-0.lock")
    with pytest.raises(LeaseError, match=r"is not a regular file"):
        _take(lease_dir)
    assert holders(lease_dir, [0]) == {0: None}


@pytest.mark.parametrize(
    ("mode", "owner", "message"),
    [
        (0o777, None, r"not sticky \(chmod \+t\)"),
        (0o1777, 65534, r"belongs to uid 65534, who can delete or replace every lock file"),
    ],
)
def test_an_unsafe_directory_is_refused(
    lease_dir: Path, mode: int, owner: int | None, message: str
) -> None:
    lease_dir.chmod(mode)
    if owner is not None:
        if os.geteuid() != 0:
            pytest.skip("giving the directory to another user needs root")
        os.chown(lease_dir, owner, owner)
    with pytest.raises(LeaseError, match=message):
        _take(lease_dir)


def test_a_lock_file_unlinked_while_held_does_not_free_the_gpu(
    lease_dir: Path, procs: list[subprocess.Popen[str]]
) -> None:
    procs.append(start(HOLDER, "0,", str(lease_dir)))
    (lease_dir / "gpu-0.lock").unlink()  # a /tmp cleaner, root, or the file's owner
    with pytest.raises(LeaseError, match=r"GPU 0 is leased by an unnamed process"):
        _take(lease_dir)
    assert holders(lease_dir, [0])[0] is not None
    stop(procs.pop())
    assert eventually(lambda: holders(lease_dir, [0]) == {0: None})
    _take(lease_dir)


def test_a_lock_file_replaced_after_opening_is_noticed(lease_dir: Path) -> None:
    with LeaseDir(lease_dir) as directory:
        fd = directory.open_lock(0)
        assert directory.still_linked(fd, 0)
        (lease_dir / "gpu-0.lock").unlink()
        (lease_dir / "gpu-0.lock").touch()
        assert not directory.still_linked(fd, 0)
        os.close(fd)


def test_sigkill_of_the_holder_keeps_the_lease_while_its_child_runs(
    lease_dir: Path, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    done = tmp_path / "child-may-end"
    holder = start(HOLDER, "0,", str(lease_dir), str(done))  # returns once the child runs
    procs.append(holder)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    # the keeper now holds the lease for the child, and says so
    assert eventually(lambda: "still running" in _command(lease_dir))
    for _ in range(3):
        with pytest.raises(LeaseError, match=r"GPU 0 is leased by .*still running"):
            _take(lease_dir)
    done.touch()  # the child ends: the GPU is free again
    lease = acquire(
        parse_gpu_request("0,"), available=FOUR, lease_dir=lease_dir, wait=True, timeout=60
    )
    lease.release()


def _command(lease_dir: Path) -> str:
    holder = holders(lease_dir, [0])[0]
    return holder.command if holder is not None else ""


def test_lease_files_get_their_modes(lease_dir: Path, tmp_path: Path) -> None:
    _take(lease_dir)
    assert stat.S_IMODE((lease_dir / "gpu-0.lock").stat().st_mode) == 0o666
    private = tmp_path / "private"
    private.mkdir(mode=0o755)
    _take(private)
    assert stat.S_IMODE((private / "gpu-0.lock").stat().st_mode) == 0o644


# A script that starts a worker the way training code does (one that ignores SIGTERM, so
# the keeper must wait out its grace period and SIGKILL it), then works until killed.
SCRIPT_WITH_CHILD = """
import signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import signal; signal.signal(signal.SIGTERM, "
                          f"signal.SIG_IGN); print(flush=True); CHILD = {CHILD!r}; exec(CHILD)",
                          sys.argv[1]], stdout=subprocess.PIPE)
child.stdout.readline()
print(child.pid, flush=True)
for _ in range(2400):
    time.sleep(0.05)
"""


def _never_free_while_running(lease_dir: Path, procs: list[psutil.Process]) -> None:
    """Try to take GPU 0 until ``procs`` have ended.

    A take that succeeded while one of them was running before and after it is a GPU
    handed out under a live process of the killed run: that fails the test.
    """
    for _ in range(1200):
        before = [p.pid for p in procs if alive(p)]
        if not before:
            return
        try:
            _take(lease_dir)
        except LeaseError:
            pass
        else:
            after = [p.pid for p in procs if alive(p) and p.pid in before]
            assert not after, f"GPU 0 was free while {after} of the killed run still ran"
        time.sleep(0.05)
    raise AssertionError(f"the killed run's processes never ended: {before}")


def test_sigkill_of_torchwarden_run_keeps_the_lease_until_its_child_is_ended(
    lease_dir: Path, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    (tmp_path / "train.py").write_text(f"CHILD = {CHILD!r}\n{SCRIPT_WITH_CHILD}")
    env = {**os.environ, "TORCHWARDEN_FAKE_GPU_COUNT": "1", "TORCHWARDEN_LEASE_DIR": str(lease_dir)}
    run = subprocess.Popen(
        [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--gpus", "1",
         "--out", "out", "train.py", str(tmp_path / "never")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    procs.append(run)
    assert run.stdout is not None
    child = psutil.Process(int(run.stdout.readline()))
    run.send_signal(signal.SIGKILL)
    run.wait()
    # the keeper holds the lease until the child, deaf to SIGTERM, is SIGKILLed after its grace
    _never_free_while_running(lease_dir, [child])
    acquire(
        parse_gpu_request("0,"), available=FOUR, lease_dir=lease_dir, wait=True, timeout=60
    ).release()


RANKS_UNTIL = """
import os, sys, time
os.write(1, f"rank {os.getpid()}\\n".encode())  # one write: two ranks share the pipe
for _ in range(2400):
    if os.path.exists(sys.argv[1]):
        break
    time.sleep(0.05)
"""


@pytest.mark.slow
def test_sigkill_of_torchwarden_run_keeps_the_lease_until_torchrun_ranks_ended(
    lease_dir: Path, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    done = tmp_path / "ranks-may-end"
    (tmp_path / "train.py").write_text(RANKS_UNTIL)
    env = {**os.environ, "TORCHWARDEN_FAKE_GPU_COUNT": "1", "TORCHWARDEN_LEASE_DIR": str(lease_dir)}
    run = subprocess.Popen(
        [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--gpus", "1",
         "--nproc-per-node", "2", "--out", "out", "train.py", str(done)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    procs.append(run)
    try:
        assert run.stdout is not None
        ranks: list[psutil.Process] = []
        while len(ranks) < 2:
            line = run.stdout.readline()
            assert line, "the ranks never said they were up"
            if line.startswith("rank "):
                ranks.append(psutil.Process(int(line.split()[1])))
        run.send_signal(signal.SIGKILL)  # the keeper ends torchrun and its ranks
        run.wait()
        _never_free_while_running(lease_dir, ranks)
    finally:
        done.touch()
    acquire(
        parse_gpu_request("0,"), available=FOUR, lease_dir=lease_dir, wait=True, timeout=120
    ).release()
