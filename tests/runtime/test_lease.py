"""GPU leases with real processes and real flock: indices are plain numbers, no GPU needed."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.runtime.lease_helpers import eventually
from torchwarden.errors import LeaseError
from torchwarden.runtime.lease import GpuRequest, Holder, acquire, holders, parse_gpu_request

FOUR = [0, 1, 2, 3]

# A separate process that leases argv[1] in argv[2], says which GPUs it got, and
# holds them until its stdin closes (or it is killed).
HOLDER = """
import sys
from pathlib import Path
from torchwarden.runtime.lease import acquire, parse_gpu_request
lease = acquire(parse_gpu_request(sys.argv[1]), available=range(4), lease_dir=Path(sys.argv[2]),
                wait="--wait" in sys.argv, command="python train.py")
print(lease.cuda_visible_devices, flush=True)
sys.stdin.read()
"""

Spawn = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def lease_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TORCHWARDEN_LEASE_DIR", raising=False)
    return tmp_path / "leases"


@pytest.fixture
def spawn(lease_dir: Path) -> Iterator[Spawn]:
    """Start a holder process; returns once it holds its lease. All are killed at teardown."""
    procs: list[subprocess.Popen[str]] = []

    def start(spec: str, *flags: str, ready: bool = True) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, spec, str(lease_dir), *flags],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        if ready:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip(), proc.stderr.read() if proc.stderr else ""
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.communicate()


def test_a_taken_gpu_names_its_holder(lease_dir: Path, spawn: Spawn) -> None:
    holder = spawn("1,")
    with pytest.raises(LeaseError, match=r"Pass --wait to queue for it") as info:
        acquire(parse_gpu_request("1,"), available=FOUR, lease_dir=lease_dir)
    message = str(info.value)
    assert message.startswith("GPU 1 is leased by ")
    assert f"(pid {holder.pid}, `python train.py`, since 20" in message
    assert info.value.holders[0]["pid"] == holder.pid
    assert info.value.holders[0]["index"] == 1


def test_two_processes_race_for_one_gpu(lease_dir: Path, spawn: Spawn) -> None:
    first = spawn("2,")
    second = spawn("2,", ready=False)
    _, err = second.communicate()
    assert second.returncode != 0
    assert "GPU 2 is leased by" in err and f"pid {first.pid}" in err


def test_a_waiter_gets_the_gpu_when_its_holder_exits(lease_dir: Path, spawn: Spawn) -> None:
    first = spawn("0,")
    waiter = spawn("0,", "--wait", ready=False)
    assert holders(lease_dir, [0])[0] is not None
    first.communicate("")  # closing stdin ends the holder, and with it the lock
    assert waiter.stdout is not None
    assert waiter.stdout.readline().strip() == "0"
    held = holders(lease_dir, [0])[0]
    assert held is not None and held.pid == waiter.pid


def test_sigkill_frees_the_lease(lease_dir: Path, spawn: Spawn) -> None:
    holder = spawn("3,")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    # the killed holder's record is still in the file; the lock decides, once the
    # keeper has seen that the holder started nothing that still runs
    assert eventually(lambda: holders(lease_dir) == {3: None})
    with acquire(parse_gpu_request("3,"), available=FOUR, lease_dir=lease_dir) as lease:
        assert lease.indices == (3,)


def test_any_n_takes_free_gpus(lease_dir: Path, spawn: Spawn) -> None:
    spawn("0,2")
    with acquire(parse_gpu_request("2"), available=FOUR, lease_dir=lease_dir) as lease:
        assert lease.indices == (1, 3)
        env = lease.env()
        assert env.pop("TORCHWARDEN_RUN_TOKEN").isalnum()
        assert env == {"CUDA_VISIBLE_DEVICES": "1,3", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    with pytest.raises(LeaseError, match=r"Asked for 3 GPUs but 2 of 4 are free: GPU 0 is"):
        acquire(parse_gpu_request("3"), available=FOUR, lease_dir=lease_dir)


def test_waiting_releases_partial_takes(lease_dir: Path, spawn: Spawn) -> None:
    holder = spawn("1,")
    seen: list[dict[int, Holder | None]] = []

    def on_wait(blocking: dict[int, Holder | None]) -> None:
        seen.append(blocking)
        # while we wait for GPU 1, GPU 0 must not stay locked by us (no deadlock)
        assert holders(lease_dir, [0]) == {0: None}
        holder.communicate("")

    lease = acquire(
        parse_gpu_request("0,1"), available=FOUR, lease_dir=lease_dir, wait=True, on_wait=on_wait
    )
    assert lease.indices == (0, 1) and list(seen[0]) == [1]
    lease.release()
    lease.release()  # a second release does nothing
    assert holders(lease_dir) == {0: None, 1: None}


def test_wait_timeout_names_the_holder(lease_dir: Path, spawn: Spawn) -> None:
    holder = spawn("0,")
    with pytest.raises(LeaseError, match=rf"gave up: GPU 0 is leased by .*pid {holder.pid}"):
        acquire(GpuRequest(1, (0,)), available=FOUR, lease_dir=lease_dir, wait=True, timeout=0.2)


def test_lease_files_are_shareable(lease_dir: Path) -> None:
    with acquire(parse_gpu_request("1"), available=FOUR, lease_dir=lease_dir):
        pass
    assert stat.S_IMODE(lease_dir.stat().st_mode) == 0o1777
    assert stat.S_IMODE((lease_dir / "gpu-0.lock").stat().st_mode) == 0o666


def test_lease_dir_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCHWARDEN_LEASE_DIR", str(tmp_path / "env-dir"))
    with acquire(parse_gpu_request("1"), available=FOUR) as lease:
        assert lease.lease_dir == tmp_path / "env-dir"
        assert os.path.exists(tmp_path / "env-dir" / "gpu-0.lock")


def test_a_missing_gpu_is_named(lease_dir: Path) -> None:
    with pytest.raises(LeaseError, match=r"GPU 5 does not exist here \(GPUs: 0,1,2,3\)"):
        acquire(parse_gpu_request("1,5"), available=FOUR, lease_dir=lease_dir)
    with pytest.raises(LeaseError, match=r"Asked for 5 GPUs but only 4 are available \(0,1,2,3\)"):
        acquire(parse_gpu_request("5"), available=FOUR, lease_dir=lease_dir)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("2", GpuRequest(2)),
        ("0,2", GpuRequest(2, (0, 2))),
        ("3,", GpuRequest(1, (3,))),
        (" 2 , 0 ", GpuRequest(2, (0, 2))),
    ],
)
def test_parse_gpu_request(spec: str, expected: GpuRequest) -> None:
    assert parse_gpu_request(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("a,b", r"gpus='a,b': 'a' is not a GPU index; pass a count \(--gpus 2\)"),
        ("", r"gpus='': empty"),
        ("two", r"gpus='two': 'two' is not a GPU count"),
        ("-1", r"'-1' is not a GPU count"),
        ("0", r"asks for no GPU; leave --gpus out"),
        ("1,1", r"GPU 1 is listed twice"),
        ("0,,1", r"'' is not a GPU index"),
    ],
)
def test_bad_specs_are_explained(spec: str, message: str) -> None:
    with pytest.raises(LeaseError, match=message):
        parse_gpu_request(spec)
