"""Resume skips a checkpoint whose manifest or files were altered or cut short, and says why."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from torchwarden.findings import CheckpointFinding
from torchwarden.train import Checkpointer, ManifestError, NoCheckpointError, read_manifest


def _save_steps(root: Path, steps: list[int]) -> torch.nn.Module:
    model = torch.nn.Linear(4, 4)
    with Checkpointer(root, keep=5) as ckpt:
        ckpt.resume(model=model)
        for step in steps:
            with torch.no_grad():
                model.weight.fill_(step)
            ckpt.save(step)
    return model


def _resume(root: Path, **kw: Any) -> tuple[int, tuple[CheckpointFinding, ...], torch.nn.Module]:
    model = torch.nn.Linear(4, 4)
    with Checkpointer(root) as ckpt:
        step = ckpt.resume(model=model, **kw)
        return step, ckpt.findings, model


def _flip_byte(path: Path, at: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[at % len(data)] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: _flip_byte(d / "shared-000.bin"), "SHA-256"),
        (lambda d: _flip_byte(d / "rank-00000.pt", 10), "SHA-256"),
        (lambda d: _truncate(d / "shared-000.bin"), "bytes, manifest says"),
        (lambda d: (d / "shared.pt").unlink(), "cannot be read"),
        (lambda d: (d / "manifest.json").unlink(), "cannot open"),
        (lambda d: _truncate(d / "manifest.json"), "not valid JSON"),
        (lambda d: _flip_byte(d / "manifest.json", 2), "not valid JSON|schema"),
    ],
    ids=[
        "bin-byte",
        "rank-byte",
        "bin-truncated",
        "file-missing",
        "no-manifest",
        "manifest-cut",
        "manifest-byte",
    ],
)
def test_damaged_newest_is_skipped_with_a_finding(tmp_path: Path, damage: Any, reason: str) -> None:
    _save_steps(tmp_path, [1, 2])
    damage(tmp_path / "step-000000000002")
    step, findings, model = _resume(tmp_path)
    assert step == 1 and bool((model.weight == 1).all())
    assert len(findings) == 1 and findings[0].checkpoint_step == 2
    assert findings[0].kind == "checkpoint" and findings[0].fix

    assert re.search(reason, findings[0].message), findings[0].message


def test_a_manifest_naming_another_step_is_skipped(tmp_path: Path) -> None:
    _save_steps(tmp_path, [1, 2])
    os.rename(tmp_path / "step-000000000001", tmp_path / "step-000000000003")
    step, findings, _ = _resume(tmp_path)
    assert step == 2 and "manifest says step 1" in findings[0].message


def test_nothing_verifies(tmp_path: Path) -> None:
    _save_steps(tmp_path, [1])
    _flip_byte(tmp_path / "step-000000000001" / "shared-000.bin")
    step, findings, _ = _resume(tmp_path)
    assert step == 0 and len(findings) == 1
    with pytest.raises(NoCheckpointError, match="train from scratch"):
        _resume(tmp_path, required=True)


def _manifest_with(tmp_path: Path, **changes: Any) -> Path:
    _save_steps(tmp_path, [1])
    path = tmp_path / "step-000000000001"
    data = json.loads((path / "manifest.json").read_text())
    for key, value in changes.items():
        if key == "file0":
            data["files"][0].update(value)
        else:
            data[key] = value
    (path / "manifest.json").write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schema": "torchwarden.checkpoint/2"}, "schema"),
        ({"step": -1}, "step must be an integer"),
        ({"step": "1"}, "step must be an integer"),
        ({"step": True}, "step must be an integer"),
        ({"world_size": 0}, "world_size"),
        ({"files": []}, "'files' must be a list"),
        ({"files": "x"}, "'files' must be a list"),
        ({"metadata": [1]}, "'metadata' must be an object"),
        ({"format": "pickle"}, "format"),
        ({"file0": {"name": "../../etc/passwd"}}, "not a plain name"),
        ({"file0": {"name": "/etc/passwd"}}, "not a plain name"),
        ({"file0": {"size": 1 << 60}}, "size must be an integer"),
        ({"file0": {"sha256": "ABC"}}, "64 lowercase hex"),
        ({"torch": "x" * 1000}, "at most 256"),
    ],
)
def test_hostile_manifests_raise_a_clear_error(tmp_path: Path, changes: Any, message: str) -> None:
    path = _manifest_with(tmp_path, **changes)
    with pytest.raises(ManifestError, match=message):
        read_manifest(path)
    assert _resume(tmp_path)[0] == 0  # and resume skips it


def test_a_manifest_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    _save_steps(tmp_path, [1])
    path = tmp_path / "step-000000000001"
    os.rename(path / "manifest.json", tmp_path / "elsewhere.json")
    os.symlink(tmp_path / "elsewhere.json", path / "manifest.json")
    with pytest.raises(ManifestError, match="cannot open"):
        read_manifest(path)


def test_an_oversized_manifest_is_refused_unread(tmp_path: Path) -> None:
    _save_steps(tmp_path, [1])
    path = tmp_path / "step-000000000001"
    with open(path / "manifest.json", "ab") as f:
        f.truncate(17 << 20)
    with pytest.raises(ManifestError, match="larger than"):
        read_manifest(path)
