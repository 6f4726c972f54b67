"""Which entry of ``torch.cuda.get_arch_list()`` can run code on a given compute capability.

CUDA's compatibility rules: a cubin built for ``sm_XY`` runs on X.Z for every Z >= Y (same
major); ``sm_XYa`` (arch-specific) runs only on X.Y; ``sm_XYf`` (family) on X.Z, Z >= Y; PTX
``compute_XY`` is JIT-compiled by the driver for any capability >= X.Y (slow first launch).
"""

from __future__ import annotations

import re

__all__ = ["serves"]

_ENTRY = re.compile(r"^(sm|compute)_(\d+?)(\d)([af]?)$")


def _parse(entry: str) -> tuple[str, tuple[int, int], str] | None:
    match = _ENTRY.match(entry.strip())
    if match is None:
        return None
    kind, major, minor, suffix = match.groups()
    return kind, (int(major), int(minor)), suffix


def serves(capability: str, arch_list: list[str]) -> tuple[str, str] | None:
    """``("sass", "sm_90")`` or ``("ptx", "compute_90")`` that serves ``capability`` ("9.0"), else None.

    Native code (SASS) wins over PTX, because PTX means a JIT compile at first launch.
    """
    try:
        major, minor = (int(part) for part in capability.split(".")[:2])
    except ValueError:
        return None
    ptx: str | None = None
    for entry in arch_list:
        parsed = _parse(entry)
        if parsed is None:
            continue
        kind, (a_major, a_minor), suffix = parsed
        exact_only = suffix == "a"  # arch-specific features exist on that one capability
        if (
            kind == "sm"
            and a_major == major
            and (a_minor == minor or (not exact_only and a_minor < minor))
        ):
            return "sass", entry
        if kind == "compute" and (a_major, a_minor) <= (major, minor):
            ptx = entry
    return ("ptx", ptx) if ptx else None
