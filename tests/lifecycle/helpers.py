"""Find the line a marker comment sits on, so tests assert exact sites without magic numbers."""

from __future__ import annotations

import os


def site(path: str, marker: str) -> str:
    with open(path) as f:
        for lineno, line in enumerate(f, start=1):
            if line.rstrip().endswith(f"# {marker}"):
                return f"{os.path.relpath(path)}:{lineno}"
    raise AssertionError(f"marker {marker!r} not found in {path}")
