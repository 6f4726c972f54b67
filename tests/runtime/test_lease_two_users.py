"""Two real users share one administrator's lease directory (the second is uid 65534)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.lease_helpers import HOLDER, NOBODY, RAW_LOCK, run_as_nobody, start, stop
from torchwarden.errors import LeaseError
from torchwarden.runtime.lease import acquire, holders, parse_gpu_request

FOUR = range(4)
pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not NOBODY,
        reason="needs a second uid: setpriv (util-linux) missing, not root, or no Python "
        "that uid 65534 may run",
    ),
]


@pytest.fixture
def shared() -> Iterator[Path]:
    """An administrator's directory: root's, mode 1777, under a base every user can reach."""
    base = Path(tempfile.mkdtemp(prefix="tw-shared-", dir="/tmp"))
    base.chmod(0o755)
    lease_dir = base / "leases"
    lease_dir.mkdir()
    lease_dir.chmod(0o1777)
    yield lease_dir
    shutil.rmtree(base)


TAKE = """
import sys
from pathlib import Path
from torchwarden.errors import LeaseError
from torchwarden.runtime.lease import acquire, parse_gpu_request
try:
    with acquire(parse_gpu_request(sys.argv[1]), available=range(4), lease_dir=Path(sys.argv[2])):
        print("took", sys.argv[1])
except LeaseError as e:
    print("refused:", e)
"""


def test_leases_are_exclusive_across_users(shared: Path) -> None:
    with acquire(parse_gpu_request("0,"), available=FOUR, lease_dir=shared):
        other = run_as_nobody(TAKE, "0,", str(shared))
        assert "refused: GPU 0 is leased by root" in other.stdout, other.stderr
        assert "took 1," in run_as_nobody(TAKE, "1,", str(shared)).stdout
        # the other user cannot delete our lock file: the directory is sticky
        gone = run_as_nobody("import os, sys; os.unlink(sys.argv[1])", str(shared / "gpu-0.lock"))
        assert "PermissionError" in gone.stderr
    assert (shared / "gpu-1.lock").stat().st_uid == 65534


def test_a_symlink_planted_by_another_user_is_refused(shared: Path) -> None:
    victim = shared.parent / "root-only.txt"
    victim.write_text("precious")
    plant = "import os, sys; os.symlink(sys.argv[1], sys.argv[2])"
    assert run_as_nobody(plant, str(victim), str(shared / "gpu-2.lock")).returncode == 0
    with pytest.raises(LeaseError, match=r"gpu-2.lock is a symbolic link"):
        acquire(parse_gpu_request("2,"), available=FOUR, lease_dir=shared, keeper=False)
    assert victim.read_text() == "precious"


def test_a_hostile_record_from_another_user_is_only_shown(shared: Path) -> None:
    acquire(parse_gpu_request("3,"), available=FOUR, lease_dir=shared, keeper=False).release()
    record = b'{"schema": "torchwarden.lease/1", "pid": 99999999999999999999, "user": [[[]]]}'
    locker = start(RAW_LOCK, str(shared / "gpu-3.lock"), record.hex(), as_nobody=True)
    try:
        with pytest.raises(LeaseError, match=r"GPU 3 is leased by an unnamed process"):
            acquire(parse_gpu_request("3,"), available=FOUR, lease_dir=shared, keeper=False)
    finally:
        stop(locker)


def test_a_directory_of_another_user_is_refused(shared: Path) -> None:
    theirs = shared / "theirs"  # a directory anyone could make in a shared place
    made = run_as_nobody(
        "import os, sys; os.mkdir(sys.argv[1]); os.chmod(sys.argv[1], 0o1777)", str(theirs)
    )
    assert made.returncode == 0, made.stderr
    with pytest.raises(LeaseError, match=r"belongs to uid 65534"):
        acquire(parse_gpu_request("0,"), available=FOUR, lease_dir=theirs, keeper=False)


def test_the_other_users_run_keeps_its_lease_for_its_child(shared: Path) -> None:
    done = shared.parent / "done"
    holder = start(HOLDER, "1,", str(shared), str(done), as_nobody=True)
    try:
        os.kill(holder.pid, 9)
        holder.wait()
        with pytest.raises(LeaseError, match=r"GPU 1 is leased by nobody"):
            acquire(parse_gpu_request("1,"), available=FOUR, lease_dir=shared, keeper=False)
    finally:
        done.touch()
        stop(holder)
    lease = acquire(
        parse_gpu_request("1,"), available=FOUR, lease_dir=shared, wait=True, timeout=60
    )
    lease.release()
    assert holders(shared, [1]) == {1: None}
