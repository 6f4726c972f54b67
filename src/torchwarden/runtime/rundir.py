"""The run directory: made exclusively, one per run, and written durably.

Two runs never share a directory: the default ``runs/<time>-<name>`` is made with an
exclusive ``mkdir`` (a taken name gets ``-2``, ``-3``, ...), and an explicit ``--out``
must be new or empty. Files appear whole: :func:`write_atomic` writes a private temp file
(``mkstemp``) beside the target, fsyncs it, renames it into place and fsyncs the
directory, so a crash or power cut leaves the old file or the new one. A full disk is a
:class:`RecordWriteError` and leaves no temp file behind.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from torchwarden import durable
from torchwarden.durable import fsync_dir
from torchwarden.errors import RecordWriteError, RunError

__all__ = ["fsync_dir", "make_run_dir", "write_atomic"]

_TRIES = 1000  # bounded: a thousand runs of one name in one second is not a real case


def make_run_dir(out: Path | None, name: str, *, root: Path = Path("runs")) -> Path:
    """A directory no other run uses: ``out`` (new or empty) or a fresh ``root/<time>-<name>``."""
    if out is not None:
        return _claim(out)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1, _TRIES + 1):
        candidate = root / (f"{stamp}-{name}" if i == 1 else f"{stamp}-{name}-{i}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise RunError(f"{_TRIES} runs named {name!r} started this second: give each a --name.")


def _claim(out: Path) -> Path:
    try:
        out.mkdir(parents=True)
    except FileExistsError:
        if not out.is_dir() or any(out.iterdir()):
            raise RunError(
                f"--out {out} is not an empty directory: give a new one, so that this run's "
                "record is not mixed with another's."
            ) from None
    except OSError as e:
        raise RunError(
            f"Cannot make --out {out}: {e.strerror}. Choose a writable directory."
        ) from None
    return out


def write_atomic(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` whole, durably; :class:`RecordWriteError` if it cannot."""
    try:
        durable.write_atomic(path, text, mode=mode)
    except OSError as e:
        raise RecordWriteError(
            f"Cannot write {path}: {e.strerror or e}. Free space or choose another --out."
        ) from None
