"""The commit protocol on a real file system: retention, replacement, stale temps, a full disk."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.tmpfs import small_tmpfs
from torchwarden.train import (
    CheckpointConfig,
    Checkpointer,
    CheckpointError,
    TrainArgumentError,
    verify_checkpoint,
)
from torchwarden.train.commit import list_checkpoints, make_temp, remove_stale_temps


def _steps(root: Path) -> list[int]:
    return [s for s, _ in list_checkpoints(root)]


def _save(root: Path, steps: list[int], *, use_async: bool = False, **config: int) -> None:
    model = torch.nn.Linear(3, 3)
    with Checkpointer(root, **config) as ckpt:
        ckpt.resume(model=model)
        for step in steps:
            (ckpt.save_async if use_async else ckpt.save)(step)


def test_keeps_the_newest_k(tmp_path: Path) -> None:
    _save(tmp_path, [1, 2, 3, 4, 5], keep=2)
    assert _steps(tmp_path) == [4, 5]
    assert sorted(os.listdir(tmp_path)) == ["step-000000000004", "step-000000000005"]


def test_keeps_every_nth_too(tmp_path: Path) -> None:
    _save(tmp_path, list(range(1, 11)), keep=2, keep_every=4, use_async=True)
    assert _steps(tmp_path) == [4, 8, 9, 10]


def test_saving_a_step_again_replaces_it(tmp_path: Path) -> None:
    _save(tmp_path, [1, 1])
    assert _steps(tmp_path) == [1] and verify_checkpoint(tmp_path / "step-000000000001").step == 1
    assert sorted(os.listdir(tmp_path)) == ["step-000000000001"]


@pytest.mark.parametrize(("field", "value"), [("keep", 0), ("keep_every", -1), ("keep", 1.5)])
def test_config_is_validated(field: str, value: object) -> None:
    with pytest.raises(TrainArgumentError, match=field):
        CheckpointConfig(**{field: value})  # type: ignore[arg-type]


def test_save_before_resume_says_what_to_do(tmp_path: Path) -> None:
    with Checkpointer(tmp_path) as ckpt, pytest.raises(CheckpointError, match="call resume"):
        ckpt.save(1)


def test_metadata_must_be_json(tmp_path: Path) -> None:
    with Checkpointer(tmp_path) as ckpt:
        ckpt.resume(model=torch.nn.Linear(1, 1))
        with pytest.raises(TrainArgumentError, match="JSON"):
            ckpt.save(1, metadata={"x": object()})


def test_stale_temps_of_dead_writers_go_live_ones_stay(tmp_path: Path) -> None:
    dead = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import torchwarden.train.commit as c, pathlib; print(c.make_temp(pathlib.Path({str(tmp_path)!r})))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(dead) / "shared-000.bin").write_bytes(b"half")
    mine = make_temp(tmp_path)
    foreign = tmp_path / ".tmp-save.otherhost.1.abcd"
    foreign.mkdir()
    assert remove_stale_temps(tmp_path) == [Path(dead)]
    assert mine.is_dir() and foreign.is_dir() and not Path(dead).exists()


def test_stale_temps_are_cleared_on_resume(tmp_path: Path) -> None:
    stale = tmp_path / ".tmp-save.x.999999999.abcd"
    _save(tmp_path, [1])
    fake = make_temp(tmp_path)
    os.rename(fake, stale.with_name(fake.name.replace(str(os.getpid()), "4194999")))
    _save(tmp_path, [2])
    assert sorted(os.listdir(tmp_path)) == ["step-000000000001", "step-000000000002"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "small", "256k") as mount:
        yield mount


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_full_disk_fails_clearly_and_keeps_the_previous(
    small_disk: Path, use_async: bool
) -> None:
    model = torch.nn.Linear(8, 8)
    with Checkpointer(small_disk) as ckpt:
        ckpt.resume(model=model)
        ckpt.save(1)
        model.register_buffer("big", torch.zeros(256, 1024))  # 1 MiB: more than the disk holds
        with pytest.raises(CheckpointError, match="disk is full"):
            if use_async:
                ckpt.save_async(2)
                ckpt.wait()
            else:
                ckpt.save(2)
    assert sorted(os.listdir(small_disk)) == ["step-000000000001"]  # no temp left behind
    assert verify_checkpoint(small_disk / "step-000000000001").step == 1
    shutil.rmtree(small_disk / "step-000000000001")


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_large_blob_is_written_as_parallel_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_async: bool
) -> None:
    from torchwarden.train import tensorfile

    monkeypatch.setattr(tensorfile, "PART_BYTES", 4096)  # so a small model spans parts
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(32, 32) for _ in range(6)])
    _save_model(tmp_path, model, use_async)
    names = {f.name for f in verify_checkpoint(tmp_path / "step-000000000001").files}
    assert {f"shared-00{i}.bin" for i in range(4)} <= names
    fresh = torch.nn.Sequential(*[torch.nn.Linear(32, 32) for _ in range(6)])
    with Checkpointer(tmp_path) as ckpt:
        assert ckpt.resume(model=fresh) == 1
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)


def _save_model(root: Path, model: torch.nn.Module, use_async: bool) -> None:
    with Checkpointer(root) as ckpt:
        ckpt.resume(model=model)
        (ckpt.save_async if use_async else ckpt.save)(1)


def test_a_relative_directory_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _save(Path("ckpts"), [1], use_async=True)
    _save(Path("ckpts"), [2])
    assert _steps(tmp_path / "ckpts") == [1, 2]


@pytest.mark.parametrize("step", [-1, 1.5, True, "3"])
def test_step_must_be_a_count(tmp_path: Path, step: object) -> None:
    with Checkpointer(tmp_path) as ckpt:
        ckpt.resume(model=torch.nn.Linear(1, 1))
        with pytest.raises(TrainArgumentError, match="step must be"):
            ckpt.save(step)  # type: ignore[arg-type]
