"""`torchwarden run` as a command: its errors, and GPU leases taken through --gpus.

What the runtime records is tested in tests/runtime; here, what the command line does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.runtime import scripts
from torchwarden.cli import cli

RUN = [sys.executable, "-m", "torchwarden", "run", "--no-progress"]


@pytest.fixture
def leases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCHWARDEN_LEASE_DIR", str(tmp_path / "leases"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("print('ran')\n")
    return tmp_path / "leases"


def test_missing_script_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run([*RUN, "nope.py"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("torchwarden: error: No script at 'nope.py'")
    assert "Traceback" not in proc.stderr


def test_fake_gpu_count_feeds_the_lease_path(leases: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHWARDEN_FAKE_GPU_COUNT", "1")
    result = CliRunner().invoke(cli, ["run", "--gpus", "2", "train.py"])
    assert result.exit_code == 2
    assert "Asked for 2 GPUs but only 1 are available (0)" in result.stderr


def test_no_gpu_at_all_is_named(leases: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHWARDEN_FAKE_GPU_COUNT", "0")
    result = CliRunner().invoke(cli, ["run", "--gpus", "1", "train.py"])
    assert result.exit_code == 2
    assert result.stderr.startswith("torchwarden: error: --gpus 1: no CUDA GPU is visible")


def _one_fake_gpu(tmp_path: Path) -> dict[str, str]:
    """A script that runs until stopped, and the environment of a machine with one GPU."""
    (tmp_path / "train.py").write_text(scripts.FOREVER)
    return {
        **os.environ,
        "TORCHWARDEN_FAKE_GPU_COUNT": "1",
        "TORCHWARDEN_LEASE_DIR": str(tmp_path / "leases"),
    }


def _start_holder(tmp_path: Path, env: dict[str, str], name: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [*RUN, "--gpus", "1", "--out", name, "train.py"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_gpu_lease_conflict_wait_and_sigkill(tmp_path: Path) -> None:
    env = _one_fake_gpu(tmp_path)
    holder = _start_holder(tmp_path, env, "a")
    try:
        busy = subprocess.run(
            [*RUN, "--gpus", "1", "--out", "b", "train.py"],
            cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert busy.returncode == 2
        assert busy.stderr.startswith("torchwarden: error: Asked for 1 GPUs but 0 of 1 are free")
        assert f"pid {holder.pid}" in busy.stderr and "--wait" in busy.stderr
        waiter = subprocess.Popen(
            [*RUN, "--gpus", "1", "--wait", "--out", "c", "train.py"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert waiter.stderr is not None
        assert "waiting for GPU 0" in waiter.stderr.readline()  # queued, naming the holder
        assert waiter.poll() is None
        holder.send_signal(signal.SIGKILL)  # no clean-up: flock still frees the lease
        holder.wait(timeout=30)
        assert waiter.stdout is not None and waiter.stdout.readline().strip() == "ready"
        waiter.send_signal(signal.SIGTERM)
        assert waiter.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        for p in (holder, *([waiter] if "waiter" in locals() else [])):
            p.kill()
            p.wait()
            for stream in (p.stdout, p.stderr):
                if stream is not None:
                    stream.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_queued_for_a_gpu_ends_the_wait(tmp_path: Path, signum: int) -> None:
    env = _one_fake_gpu(tmp_path)
    holder = _start_holder(tmp_path, env, "a")
    try:
        waiter = subprocess.Popen(
            [*RUN, "--gpus", "1", "--wait", "--out", "b", "train.py"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert waiter.stderr is not None
        assert "waiting for GPU 0" in waiter.stderr.readline()
        waiter.send_signal(signum)
        _, err = waiter.communicate(timeout=60)  # the holder still holds: only the signal ends it
        assert waiter.returncode == 128 + signum, err
        assert f"{signal.Signals(signum).name} while waiting for --gpus 1: nothing ran." in err
        assert "Traceback" not in err and not (tmp_path / "b").exists()
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.communicate(timeout=60)
