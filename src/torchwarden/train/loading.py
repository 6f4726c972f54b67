"""Resume: pick the newest checkpoint that verifies, then load it into the live objects.

Rank 0 walks the committed checkpoints from the newest, reads each manifest (validated:
the directory may be shared) and checks every file's size and SHA-256; the first that
passes is used and each one skipped becomes a :class:`CheckpointFinding` saying why.
Its choice is broadcast, so every rank loads the same checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchwarden.errors import CheckpointError, ManifestError
from torchwarden.findings import CheckpointFinding
from torchwarden.train import commit
from torchwarden.train.distributed import Coordinator
from torchwarden.train.manifest import Manifest, read_manifest, verify_files
from torchwarden.train.saving import SHARED, rank_file
from torchwarden.train.sharded import load_sharded
from torchwarden.train.state import TrainState
from torchwarden.train.tensorfile import load_small, load_tree

__all__ = ["Options", "Resumed", "choose", "resume", "verify_checkpoint"]


@dataclass(frozen=True)
class Options:
    verify: bool = True
    sharded: bool = False


@dataclass(frozen=True)
class Resumed:
    """Where :meth:`Checkpointer.resume` resumed from: ``step`` 0 and ``path`` None when fresh."""

    step: int = 0
    epoch: int | None = None
    path: Path | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    findings: tuple[CheckpointFinding, ...] = ()


def verify_checkpoint(path: str | Path, *, hashes: bool = True) -> Manifest:
    """The manifest of the checkpoint at ``path`` if every file matches it; else ManifestError."""
    path = Path(path)
    manifest = read_manifest(path)
    reason = verify_files(path, manifest) if hashes else None
    if reason:
        raise ManifestError(f"{path}: {reason}")
    return manifest


def _finding(path: Path, step: int, reason: str) -> CheckpointFinding:
    return CheckpointFinding(
        message=f"skipped checkpoint {path.name}: {reason}",
        fix="it was left incomplete or altered after it was written; resuming from an older one. "
        "Delete it once you have looked at it.",
        path=str(path),
        checkpoint_step=step,
    )


def choose(
    root: Path, verify: bool
) -> tuple[Path | None, Manifest | None, list[CheckpointFinding]]:
    """The newest checkpoint under ``root`` that verifies, its manifest, and those skipped."""
    findings = []
    for step, path in reversed(commit.list_checkpoints(root)):
        try:
            manifest = verify_checkpoint(path, hashes=verify)
        except ManifestError as exc:
            findings.append(_finding(path, step, str(exc).removeprefix(f"{path}: ")))
            continue
        if manifest.step != step:
            findings.append(_finding(path, step, f"its manifest says step {manifest.step}"))
            continue
        return path, manifest, findings
    return None, None, findings


def resume(root: Path, state: TrainState, coord: Coordinator, options: Options) -> Resumed:
    """Load the chosen checkpoint into ``state``'s objects; a :class:`Resumed`."""
    chosen = choose(root, options.verify) if coord.leader else (None, None, [])
    path, manifest, findings = coord.broadcast(chosen)
    if path is None or manifest is None:
        return Resumed(findings=tuple(findings))
    if (manifest.format == "dcp") != options.sharded:
        raise CheckpointError(
            f"{path} holds {'sharded' if manifest.format == 'dcp' else 'whole'} model state but "
            "the model passed to resume() is not: pass the same kind of model (FSDP/DTensor or not)"
        )
    _load(path, manifest, state, coord, options)
    if manifest.world_size == coord.world_size:
        state.load_rank(load_small(path / rank_file(coord.rank)))
    else:
        findings.append(_world_changed(path, manifest, coord.world_size))
    return Resumed(manifest.step, manifest.epoch, path, manifest.metadata, tuple(findings))


def _load(
    path: Path, manifest: Manifest, state: TrainState, coord: Coordinator, options: Options
) -> None:
    skip: tuple[str, ...] = ()
    if options.sharded:
        load_sharded(path, state.model, state.optimizer, coord.group)
        skip = ("model", "optimizer")
    state.load_shared(load_tree(path, SHARED), skip=skip)


def _world_changed(path: Path, manifest: Manifest, world_size: int) -> CheckpointFinding:
    return CheckpointFinding(
        message=f"{path.name} was saved by {manifest.world_size} ranks, this run has {world_size}: "
        "model and optimizer were restored, per-rank RNG and data position were not",
        fix="resume with the same number of ranks for a bit-exact continuation",
        path=str(path),
        checkpoint_step=manifest.step,
        severity="info",
    )
