"""Bytes the C heap has handed out, read from glibc in about a microsecond.

CPU tensor storages, TensorImpls and autograd nodes all live in the C heap, so a CPU
tensor that leaks every step moves this counter every step (a few hundred bytes for a
scalar), while a healthy training loop holds it within a few dozen bytes. Where glibc's
``mallinfo2`` is missing, Python's own block count stands in.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable

__all__ = ["heap_in_use", "heap_source"]


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _glibc_reader() -> Callable[[], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):  # musl, or glibc older than 2.33
        return None
    mallinfo2.restype = _MallInfo2
    mallinfo2.argtypes = []

    def read() -> int:
        info = mallinfo2()
        return int(info.uordblks + info.hblkhd)  # small chunks in use + mmapped chunks

    return read


_reader = _glibc_reader()


def heap_source() -> str:
    """Which counter :func:`heap_in_use` reads: ``glibc`` or ``pymalloc``."""
    return "glibc" if _reader is not None else "pymalloc"


def heap_in_use() -> int:
    """Bytes in use in the C heap (glibc), or Python's allocated block count elsewhere."""
    return _reader() if _reader is not None else sys.getallocatedblocks()
