"""Sharded state (FSDP, DTensor) saved and loaded by torch.distributed.checkpoint (DCP).

DCP is the storage engine: each rank writes its shards and rank 0 the DCP metadata,
into the same private directory the commit protocol renames into place. DCP fsyncs its
files but not the directory and reads its metadata with plain pickle, so the manifest's
sizes and SHA-256 are checked before DCP is ever asked to read anything.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from torchwarden.train.manifest import FileRecord, sha256_of

__all__ = [
    "ShardStager",
    "is_sharded",
    "load_sharded",
    "save_sharded",
    "shard_files_of",
    "sharded_state",
]


def is_sharded(model: Any) -> bool:
    """Whether ``model``'s parameters are sharded across ranks (FSDP or DTensor)."""
    if not isinstance(model, torch.nn.Module):
        return False
    from torch.distributed.fsdp import FullyShardedDataParallel
    from torch.distributed.tensor import DTensor

    if any(isinstance(m, FullyShardedDataParallel) for m in model.modules()):
        return True
    return any(isinstance(p, DTensor) for p in model.parameters())


def _optimizers(optimizer: Any) -> list[Any]:
    if optimizer is None:
        return []
    return list(optimizer) if isinstance(optimizer, Iterable) else [optimizer]


def sharded_state(model: Any, optimizer: Any) -> dict[str, Any]:
    """This rank's shards of model and optimizer state, as DCP saves them (live tensors)."""
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_sd, optim_sd = get_state_dict(model, _optimizers(optimizer))
    return {"model": model_sd, "optimizer": optim_sd}


class ShardStager:
    """Copies sharded state to host memory (pinned, buffers reused) for a background save.

    DCP's own stager does the copying, so DTensor shards keep their placement metadata.
    """

    def __init__(self) -> None:
        self._stager: Any = None

    def stage(self, state: dict[str, Any]) -> dict[str, Any]:
        from torch.distributed.checkpoint.staging import DefaultStager, StagingOptions

        if self._stager is None:
            gpu = torch.accelerator.is_available()
            options = StagingOptions(
                use_pinned_memory=gpu,
                use_shared_memory=False,
                use_async_staging=False,  # the copy must be done when save_async returns
                use_non_blocking_copy=gpu,
            )
            self._stager = DefaultStager(options)
        staged: dict[str, Any] = self._stager.stage(state)
        return staged


def save_sharded(directory: Path, state: dict[str, Any], group: Any) -> None:
    """Write every rank's shards of ``state`` into ``directory`` (a collective)."""
    from torch.distributed.checkpoint.filesystem import FileSystemWriter
    from torch.distributed.checkpoint.state_dict_saver import save

    writer = FileSystemWriter(str(directory), sync_files=True, overwrite=False)
    save(state, storage_writer=writer, process_group=group)


def load_sharded(directory: Path, model: Any, optimizer: Any, group: Any) -> None:
    """Read the shards this rank needs (DCP reshards if the world changed) into the objects."""
    from torch.distributed.checkpoint.filesystem import FileSystemReader
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
    from torch.distributed.checkpoint.state_dict_loader import load

    optimizers = _optimizers(optimizer)
    model_sd, optim_sd = get_state_dict(model, optimizers)
    state: dict[str, Any] = {"model": model_sd, "optimizer": optim_sd}
    reader = FileSystemReader(str(directory))
    load(state, storage_reader=reader, process_group=group)
    set_state_dict(
        model, optimizers, model_state_dict=state["model"], optim_state_dict=state["optimizer"]
    )


def shard_files_of(directory: Path, rank: int, pool: ThreadPoolExecutor) -> list[FileRecord]:
    """Records of the DCP files this rank wrote (``__<rank>_*``; rank 0 also ``.metadata``)."""
    names = sorted(n for n in os.listdir(directory) if n.startswith(f"__{rank}_"))
    if rank == 0 and os.path.exists(directory / ".metadata"):
        names.append(".metadata")
    return list(pool.map(lambda n: FileRecord(n, *sha256_of(directory / n)), names))
