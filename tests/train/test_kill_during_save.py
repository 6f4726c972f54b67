"""SIGKILL a process at random moments while it saves checkpoints in a loop (sync and async).

After every kill the newest visible checkpoint must verify and load, no checkpoint the
child saw committed may be missing, and the next writer must clear the dead one's
temporary directory. Children are forked from the test process, which has torch
imported already, so each kill costs milliseconds instead of an interpreter start.
"""

from __future__ import annotations

import os
import random
import select
import signal
import time
from pathlib import Path

import pytest
import torch

from torchwarden.train import Checkpointer, verify_checkpoint
from torchwarden.train.commit import list_checkpoints

KILLS = 60  # at least 50 required: half synchronous saves, half asynchronous


def _objects() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.Linear(256, 256))
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(2, 256)).sum().backward()
    optimizer.step()  # so the optimizer has state to save (about 1.5 MB in all)
    return model, optimizer


def _child(root: Path, out: int, use_async: bool) -> None:
    """Save forever; report each committed step on ``out``. Never returns."""
    try:
        torch.set_num_threads(1)  # no OpenMP pool in a forked child
        model, optimizer = _objects()
        with Checkpointer(root, keep=2) as ckpt:
            step = ckpt.resume(model=model, optimizer=optimizer)
            os.write(out, b"ready\n")
            while True:
                step += 1
                with torch.no_grad():
                    for p in model.parameters():
                        p.fill_(float(step))  # the content says which step it belongs to
                if use_async:
                    ckpt.save_async(step)
                    path = ckpt.wait()
                else:
                    path = ckpt.save(step)
                os.write(out, f"committed {path.name if path else ''}\n".encode())
    finally:
        os._exit(3)


def _read_all(fd: int, timeout: float) -> str:
    data = b""
    while select.select([fd], [], [], timeout)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
        timeout = 0
    return data.decode()


def _kill_once(root: Path, use_async: bool, rng: random.Random) -> tuple[int, bool]:
    """Run a child, kill it at a random moment; (last step it saw committed, killed mid-save)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _child(root, write, use_async)
    os.close(write)
    try:
        text = _read_all(read, timeout=120)
        assert text.startswith("ready"), text
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        text += _read_all(read, timeout=0.5)
    finally:
        os.close(read)
    mid_save = any(p.name.startswith(".tmp-") for p in root.iterdir())
    names = [line.split()[1] for line in text.splitlines() if line.startswith("committed ")]
    return (int(names[-1].removeprefix("step-")) if names else -1), mid_save


def _check_newest(root: Path) -> int:
    """Verify and load the newest visible checkpoint; its step."""
    step, newest = list_checkpoints(root)[-1]
    manifest = verify_checkpoint(newest)  # raises if anything is corrupt
    model, optimizer = _objects()
    with Checkpointer(root, keep=2) as ckpt:
        assert ckpt.resume(model=model, optimizer=optimizer) == step == manifest.step
        assert ckpt.findings == ()
    assert all(bool((p == float(step)).all()) for p in model.parameters())
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp-")], "a dead temp was left"
    return step


@pytest.mark.slow
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_sigkill_while_saving_never_corrupts_or_loses(tmp_path: Path, use_async: bool) -> None:
    rng = random.Random(1234 + use_async)
    corrupted = lost = mid_save = 0
    for _ in range(KILLS // 2):
        committed, killed_mid_save = _kill_once(tmp_path, use_async, rng)
        mid_save += killed_mid_save
        try:
            newest = _check_newest(tmp_path)
        except Exception:
            corrupted += 1
            continue
        lost += newest < committed
    print(f"kills={KILLS // 2} mid-save={mid_save} corrupted={corrupted} lost={lost}")
    assert (corrupted, lost) == (0, 0)
    assert mid_save >= KILLS // 8, "the kills should land inside saves"
