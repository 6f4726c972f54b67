"""The checkpoint manifest: what a committed checkpoint holds, and the proof that it is whole.

A manifest (``manifest.json``, schema ``torchwarden.checkpoint/1``) lists every file of
the checkpoint with its size and SHA-256, and says which step, torch version and world
size wrote it. It is the last file written before the directory is renamed into place,
and the first read on resume. The directory may be shared, so every field read back is
validated (types, bounds, file names that stay inside the checkpoint) before use.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchwarden.errors import CheckpointError, ManifestError

__all__ = ["MANIFEST", "SCHEMA", "FileRecord", "Manifest", "read_manifest", "verify_files"]

SCHEMA = "torchwarden.checkpoint/1"
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 << 20  # a manifest is small; anything larger is not ours
MAX_FILES = 100_000
MAX_STEP = 1 << 62
MAX_FILE_BYTES = 1 << 50
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}$|^\.metadata$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FORMATS = ("tensorfile", "dcp")
HASH_CHUNK = 8 << 20


@dataclass(frozen=True)
class FileRecord:
    """One file of a checkpoint: its name inside the directory, size in bytes, SHA-256 (hex)."""

    name: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class Manifest:
    """What a committed checkpoint holds; written last, read first."""

    step: int
    world_size: int
    files: tuple[FileRecord, ...]
    format: str = "tensorfile"
    epoch: int | None = None
    torch_version: str = ""
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat())
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "step": self.step,
            "epoch": self.epoch,
            "world_size": self.world_size,
            "format": self.format,
            "torch": self.torch_version,
            "created": self.created,
            "files": [f.to_dict() for f in self.files],
            "metadata": dict(self.metadata),
        }

    def dumps(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n").encode()


def read_manifest(directory: Path) -> Manifest:
    """Read and validate ``directory/manifest.json``; :class:`ManifestError` says what is wrong."""
    raw = _read_small(directory / MANIFEST)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{directory / MANIFEST} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{directory / MANIFEST} is not a JSON object")
    return _validated(data, directory)


def _read_small(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise ManifestError(f"cannot open {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ManifestError(f"{path} is not a regular file")
        raw = f.read(MAX_MANIFEST_BYTES + 1)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path} is larger than {MAX_MANIFEST_BYTES} bytes")
    return raw


def _validated(data: dict[str, Any], directory: Path) -> Manifest:
    where = str(directory / MANIFEST)
    if data.get("schema") != SCHEMA:
        raise ManifestError(
            f"{where} has schema {data.get('schema')!r}, expected {SCHEMA!r}: "
            "it was written by another tool or a newer torchwarden"
        )
    epoch = data.get("epoch")
    fmt = data.get("format")
    if fmt not in _FORMATS:
        raise ManifestError(f"{where}: format {fmt!r} is not one of {_FORMATS}")
    files = data.get("files")
    if not isinstance(files, list) or not 0 < len(files) <= MAX_FILES:
        raise ManifestError(f"{where}: 'files' must be a list of 1..{MAX_FILES} records")
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ManifestError(f"{where}: 'metadata' must be an object")
    return Manifest(
        step=_bounded_int(data.get("step"), "step", 0, MAX_STEP, where),
        epoch=None if epoch is None else _bounded_int(epoch, "epoch", 0, MAX_STEP, where),
        world_size=_bounded_int(data.get("world_size"), "world_size", 1, 1 << 24, where),
        format=fmt,
        files=_file_records(files, where),
        torch_version=_short_str(data.get("torch", ""), "torch", where),
        created=_short_str(data.get("created", ""), "created", where),
        metadata=metadata,
    )


def _file_records(files: list[Any], where: str) -> tuple[FileRecord, ...]:
    records = []
    for entry in files:
        if not isinstance(entry, dict):
            raise ManifestError(f"{where}: every file record must be an object")
        name, sha = entry.get("name"), entry.get("sha256")
        if not isinstance(name, str) or not _NAME.match(name) or name in (".", ".."):
            raise ManifestError(
                f"{where}: file name {name!r} is not a plain name in the checkpoint"
            )
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise ManifestError(f"{where}: {name}: sha256 must be 64 lowercase hex digits")
        size = _bounded_int(entry.get("size"), f"{name}: size", 0, MAX_FILE_BYTES, where)
        records.append(FileRecord(name, size, sha))
    if len({r.name for r in records}) != len(records):
        raise ManifestError(f"{where}: a file is listed twice")
    return tuple(records)


def _bounded_int(value: Any, name: str, low: int, high: int, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ManifestError(f"{where}: {name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _short_str(value: Any, name: str, where: str) -> str:
    if not isinstance(value, str) or len(value) > 256:
        raise ManifestError(f"{where}: {name} must be a string of at most 256 characters")
    return value


def sha256_of(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a regular file, opened without following links."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb", buffering=0) as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise CheckpointError(f"{path} is not a regular file")
        digest, size, buf = hashlib.sha256(), 0, bytearray(HASH_CHUNK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            digest.update(view[:n])
            size += n
    return size, digest.hexdigest()


def verify_files(directory: Path, manifest: Manifest) -> str | None:
    """Why the files of ``directory`` do not match ``manifest``, or None when every one does."""
    for record in manifest.files:
        path = directory / record.name
        try:
            if os.lstat(path).st_size != record.size:  # cheap check before hashing
                return (
                    f"{record.name} is {os.lstat(path).st_size} bytes, manifest says {record.size}"
                )
            size, digest = sha256_of(path)
        except (OSError, CheckpointError) as exc:
            return f"{record.name} cannot be read ({exc})"
        if size != record.size:
            return f"{record.name} is {size} bytes, manifest says {record.size}"
        if digest != record.sha256:
            return f"{record.name} has SHA-256 {digest[:12]}…, manifest says {record.sha256[:12]}…"
    return None
