"""Raw tensor bytes plus a small index: the storage format that writes at the disk's speed.

A state tree (dicts, lists, tuples of tensors and plain values) is split in two:
every dense tensor's bytes go, 64-byte aligned and back to back, into one ``.bin``
file written with large sequential writes; the tree, with each tensor replaced by a
reference ``{"__torchwarden_tensor__": i}``, and the index of dtypes, shapes and offsets
go into a small ``.pt`` file loadable with ``torch.load(weights_only=True)``.
SHA-256 is computed while writing, in a second thread, so hashing costs no extra pass.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import torch

from torchwarden.errors import CheckpointError
from torchwarden.train.manifest import FileRecord

__all__ = ["HashingWriter", "Layout", "as_bytes", "flatten", "load_small", "load_tree", "unflatten"]

ALIGN = 64
_REF = "__torchwarden_tensor__"
_BIG = 4 << 20  # writes from this size on are hashed in parallel with the write
_CHUNK = 64 << 20


def _raw(t: torch.Tensor) -> bool:
    return (
        type(t) in (torch.Tensor, torch.nn.Parameter)
        and t.layout == torch.strided
        and (t.device.type != "meta")
    )


def flatten(tree: Any, tensors: list[torch.Tensor]) -> Any:
    """``tree`` with each dense tensor replaced by a reference; the tensors appended to ``tensors``."""
    if isinstance(tree, torch.Tensor) and _raw(tree):
        tensors.append(tree.detach())
        return {_REF: len(tensors) - 1}
    if isinstance(tree, dict):
        return type(tree)((k, flatten(v, tensors)) for k, v in tree.items())
    if isinstance(tree, list):
        return [flatten(v, tensors) for v in tree]
    if isinstance(tree, tuple) and not hasattr(tree, "_fields"):
        return tuple(flatten(v, tensors) for v in tree)
    return tree


def unflatten(tree: Any, tensors: list[torch.Tensor]) -> Any:
    if isinstance(tree, dict):
        if len(tree) == 1 and _REF in tree:
            return tensors[tree[_REF]]
        return type(tree)((k, unflatten(v, tensors)) for k, v in tree.items())
    if isinstance(tree, list):
        return [unflatten(v, tensors) for v in tree]
    if isinstance(tree, tuple):
        return tuple(unflatten(v, tensors) for v in tree)
    return tree


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


PART_BYTES = 64 << 20  # below this a blob is one file; above, up to MAX_PARTS files
MAX_PARTS = 4


@dataclass(frozen=True)
class Layout:
    """Where each tensor's bytes sit in the blob (and in a host snapshot arena).

    A large blob is cut, at tensor boundaries, into ``parts`` (byte ranges of about equal
    size), each written to its own file by its own thread: SHA-256 is sequential within
    a file, so parts let hashing keep up with a disk faster than one core hashes.
    """

    offsets: tuple[int, ...]
    nbytes: tuple[int, ...]
    total: int
    parts: tuple[tuple[int, int], ...] = ((0, 0),)

    @classmethod
    def of(cls, tensors: list[torch.Tensor], max_parts: int = MAX_PARTS) -> Layout:
        offsets, sizes, at = [], [], 0
        for t in tensors:
            n = t.numel() * t.element_size()
            offsets.append(at)
            sizes.append(n)
            at = _aligned(at + n)
        count = max(1, min(max_parts, os.cpu_count() or 1, at // PART_BYTES))
        starts = [0]
        for off in offsets:
            if len(starts) < count and off >= at * len(starts) / count:
                starts.append(off)
        parts = tuple(zip(starts, [*starts[1:], at]))
        return cls(tuple(offsets), tuple(sizes), at, parts)

    def index(self, tensors: list[torch.Tensor]) -> list[list[Any]]:
        return [
            [str(t.dtype).removeprefix("torch."), list(t.shape), off]
            for t, off in zip(tensors, self.offsets)
        ]


def part_name(stem: str, i: int) -> str:
    return f"{stem}-{i:03d}.bin"


def as_bytes(t: torch.Tensor) -> memoryview:
    """The bytes of a contiguous CPU tensor, without a copy."""
    flat = t.reshape(-1)
    if flat.numel() == 0:
        return memoryview(b"")
    return memoryview(flat.view(torch.uint8).numpy()).cast("B")  # type: ignore[arg-type]


class HashingWriter:
    """A file written with large writes, hashed (SHA-256) in a helper thread as it goes."""

    def __init__(self, path: Path, pool: ThreadPoolExecutor | None) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        self._file: BinaryIO = os.fdopen(fd, "wb", buffering=_BIG)
        self._digest = hashlib.sha256()
        self._pool = pool
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data).cast("B")
        if len(view) < _BIG:
            self._digest.update(view)
            self._file.write(view)
        for at in range(0, len(view) if len(view) >= _BIG else 0, _CHUNK):
            chunk = view[at : at + _CHUNK]
            if self._pool is None:  # parts written in parallel: each hashes in its own thread
                self._file.write(chunk)
                self._digest.update(chunk)
                continue
            hashing = self._pool.submit(self._digest.update, chunk)  # hashlib drops the GIL
            self._file.write(chunk)
            hashing.result()
        self.size += len(view)
        return len(view)

    def pad_to(self, offset: int) -> None:
        if offset > self.size:
            self.write(bytes(offset - self.size))

    def close(self) -> FileRecord:
        """Flush, fsync and close; the record of what was written."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return FileRecord(self.path.name, self.size, self._digest.hexdigest())

    def __enter__(self) -> HashingWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None and not self._file.closed:
            with contextlib.suppress(
                OSError
            ):  # the error that brought us here is the one to report
                self._file.close()


def load_small(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a verified file that torch cannot read: say which
        raise CheckpointError(f"cannot load {path} with weights_only=True: {exc}") from None


def load_tree(directory: Path, stem: str) -> Any:
    """Read back a tree and its blob parts; every tensor gets its own CPU storage."""
    head = load_small(directory / f"{stem}.pt")
    if not isinstance(head, dict) or not isinstance(head.get("index"), list):
        raise CheckpointError(f"{directory / stem}.pt is not a torchwarden tensor index")
    parts = head.get("parts")
    if not isinstance(parts, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(v, int) for v in p) for p in parts
    ):
        raise CheckpointError(f"{directory / stem}.pt holds no valid list of blob parts")
    with contextlib.ExitStack() as stack:
        files = [
            stack.enter_context(_open_read(directory / part_name(stem, i)))
            for i in range(len(parts))
        ]
        starts = [p[0] for p in parts]
        tensors = [_read_tensor(files, parts, starts, entry, directory) for entry in head["index"]]
    return unflatten(head["tree"], tensors)


def _open_read(path: Path) -> BinaryIO:
    """Open without following a link: the file read must be the file verified."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb", buffering=0)


def _read_tensor(
    files: Sequence[BinaryIO], parts: list[list[int]], starts: list[int], entry: Any, where: Path
) -> torch.Tensor:
    dtype_name, shape, offset = entry
    dtype = getattr(torch, str(dtype_name), None)
    if not isinstance(dtype, torch.dtype) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise CheckpointError(f"{where}: index entry {entry!r} is not a dtype and shape")
    t = torch.empty(shape, dtype=dtype)
    view = as_bytes(t)
    i = bisect.bisect_right(starts, offset) - 1 if isinstance(offset, int) else -1
    if i < 0 or offset + len(view) > parts[i][1]:
        raise CheckpointError(f"{where}: tensor at {offset!r} lies outside the blob's parts")
    f = files[i]
    f.seek(offset - parts[i][0])
    done = 0
    while done < len(view):  # one read returns at most ~2 GiB on Linux
        n = f.readinto(view[done:])  # type: ignore[attr-defined]
        if not n:
            raise CheckpointError(f"{where}: short read at offset {offset + done}")
        done += n
    return t
