"""One save, from the loop's snapshot to the committed directory.

:func:`snapshot` runs in the training loop: it reads every object's state, copies the
tensors to host memory (a reused, pinned arena when asked) and serialises the small
rest, so the loop may change anything afterwards. :func:`write` then does the slow
part, in the loop or in a background thread: every rank writes its files into the
directory rank 0 made, rank 0 gathers their records, writes the manifest and commits.
"""

from __future__ import annotations

import errno
import io
import shutil
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from torchwarden.errors import CheckpointError
from torchwarden.train import commit
from torchwarden.train.distributed import Coordinator
from torchwarden.train.manifest import MANIFEST, FileRecord, Manifest
from torchwarden.train.sharded import save_sharded, shard_files_of, sharded_state
from torchwarden.train.snapshot import HostArena
from torchwarden.train.state import TrainState
from torchwarden.train.tensorfile import HashingWriter, Layout, as_bytes, flatten, part_name

__all__ = ["Snapshot", "snapshot", "write"]

SHARED = "shared"
# which committed checkpoints (step, path; oldest first) the retention policy lets go
Expiry = Callable[[list[tuple[int, Path]]], list[Path]]


def rank_file(rank: int) -> str:
    return f"rank-{rank:05d}.pt"


@dataclass
class Snapshot:
    """Everything one save writes, already detached from the live training objects."""

    step: int
    epoch: int | None
    metadata: Mapping[str, Any]
    rank_bytes: bytes
    index_bytes: bytes = b""
    host: torch.Tensor | list[torch.Tensor] = field(default_factory=list)
    layout: Layout | None = None
    sharded: Callable[[Path, Any], None] | None = None


def _serialised(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def snapshot(
    state: TrainState,
    coord: Coordinator,
    step: int,
    *,
    arena: HostArena,
    copy: bool,
    sharded: bool,
    epoch: int | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Snapshot:
    """Capture the state of ``step``.

    With ``copy`` every tensor is copied to host memory (``arena``; shards by DCP's
    stager), so the loop may go on; without, host tensors are written from where they
    are and only device tensors pass through the arena.
    """
    snap = Snapshot(step, epoch, dict(metadata or {}), _serialised(state.rank_state()))
    if sharded:
        shards = sharded_state(state.model, state.optimizer)
        if copy:
            shards = arena.stage_shards(shards)
        snap.sharded = lambda directory, group: save_sharded(directory, shards, group)
    if coord.leader:
        _capture_shared(
            snap, state, arena, copy=copy, skip=("model", "optimizer") if sharded else ()
        )
    return snap


def _capture_shared(
    snap: Snapshot, state: TrainState, arena: HostArena, *, copy: bool, skip: tuple[str, ...]
) -> None:
    """Rank 0's part: the tree and its index serialised, the tensors staged (or referenced)."""
    tensors: list[torch.Tensor] = []
    tree = flatten(state.shared_state(skip=skip), tensors)
    snap.layout = Layout.of(tensors)
    parts = [list(p) for p in snap.layout.parts]
    snap.index_bytes = _serialised(
        {"tree": tree, "index": snap.layout.index(tensors), "parts": parts}
    )
    if copy or any(t.device.type == "cuda" for t in tensors):
        snap.host = arena.stage(tensors, snap.layout)
    else:
        snap.host = [t.contiguous() for t in tensors]


def _write_shared(directory: Path, snap: Snapshot, pool: ThreadPoolExecutor) -> list[FileRecord]:
    layout = snap.layout
    assert layout is not None
    if len(layout.parts) == 1:
        records = [_write_part(directory, snap, 0, pool)]
    else:
        with ThreadPoolExecutor(len(layout.parts), thread_name_prefix="torchwarden-part") as parts:
            jobs = [
                parts.submit(_write_part, directory, snap, i, None)
                for i in range(len(layout.parts))
            ]
            records = [job.result() for job in jobs]
    return [_write_bytes(directory / f"{SHARED}.pt", snap.index_bytes, pool), *records]


def _write_part(
    directory: Path, snap: Snapshot, i: int, pool: ThreadPoolExecutor | None
) -> FileRecord:
    """Write bytes [start, end) of the blob to its part file; its record."""
    assert snap.layout is not None
    start, end = snap.layout.parts[i]
    with HashingWriter(directory / part_name(SHARED, i), pool) as blob:
        if isinstance(snap.host, torch.Tensor):
            blob.write(as_bytes(snap.host[start:end]))  # laid out as the file: one stream
        else:
            for t, offset in zip(snap.host, snap.layout.offsets):
                if start <= offset < end:
                    blob.pad_to(offset - start)
                    blob.write(as_bytes(t))
            blob.pad_to(end - start)
        return blob.close()


def _write_bytes(path: Path, data: bytes, pool: ThreadPoolExecutor) -> FileRecord:
    with HashingWriter(path, pool) as writer:
        writer.write(data)
        return writer.close()


def _write_rank_files(
    directory: Path, snap: Snapshot, coord: Coordinator, pool: ThreadPoolExecutor
) -> list[FileRecord]:
    records = []
    if snap.sharded is not None:
        snap.sharded(directory, coord.group)
        records += shard_files_of(directory, coord.rank, pool)
    if coord.leader:
        records += _write_shared(directory, snap, pool)
    return [*records, _write_bytes(directory / rank_file(coord.rank), snap.rank_bytes, pool)]


def _explain(exc: BaseException, rank: int) -> str:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"rank {rank}: the disk is full ({exc}); free space, or lower keep="
    return f"rank {rank}: {type(exc).__name__}: {exc}"


def write(
    root: Path, snap: Snapshot, coord: Coordinator, pool: ThreadPoolExecutor, expired: Expiry
) -> Path:
    """Write, record and commit ``snap``; raises :class:`CheckpointError` on any rank's failure."""
    made = coord.broadcast(_make_temp(root) if coord.leader else None)
    if not made[0]:
        raise CheckpointError(made[1])
    temp = Path(made[1])
    records: list[FileRecord] = []
    error = None
    try:
        records = _write_rank_files(temp, snap, coord, pool)
    except Exception as exc:
        error = _explain(exc, coord.rank)
    gathered = coord.gather((records, error))
    outcome = (
        _commit(root, temp, snap, coord.world_size, gathered, pool, expired)
        if coord.leader
        else None
    )
    committed, where = coord.broadcast(outcome)
    if not committed:
        raise CheckpointError(f"checkpoint of step {snap.step} was not saved: {where}")
    return Path(where)


def _make_temp(root: Path) -> tuple[bool, str]:
    """(True, the new temporary directory) or (False, why it could not be made)."""
    try:
        return True, str(commit.make_temp(root))
    except OSError as exc:
        return False, f"cannot create a directory in {root}: {_explain(exc, 0)}"


def _commit(
    root: Path,
    temp: Path,
    snap: Snapshot,
    world_size: int,
    gathered: list[Any],
    pool: ThreadPoolExecutor,
    expired: Expiry,
) -> tuple[bool, str]:
    """On rank 0: the manifest, then the rename; (True, path) or (False, why it failed)."""
    try:
        errors = [e for _, e in gathered if e]
        if errors:
            raise CheckpointError("; ".join(errors))
        manifest = _manifest(snap, world_size, [r for recs, _ in gathered for r in recs])
        _write_bytes(temp / MANIFEST, manifest.dumps(), pool)
        path = commit.commit_directory(temp, root, snap.step)
    except Exception as exc:
        shutil.rmtree(temp, ignore_errors=True)
        return False, str(exc) if isinstance(exc, CheckpointError) else _explain(exc, 0)
    for old in expired(commit.list_checkpoints(root)):
        commit.retire(old, root)
    return True, str(path)


def _manifest(snap: Snapshot, world_size: int, files: list[FileRecord]) -> Manifest:
    return Manifest(
        step=snap.step,
        epoch=snap.epoch,
        world_size=world_size,
        files=tuple(files),
        format="dcp" if snap.sharded else "tensorfile",
        torch_version=torch.__version__,
        metadata=snap.metadata,
    )
