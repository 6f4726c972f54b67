"""Find the line a marker comment sits on, so tests assert exact sites without magic numbers."""

from __future__ import annotations

import os

import torchwarden


def site(path: str, marker: str) -> str:
    with open(path) as f:
        for lineno, line in enumerate(f, start=1):
            if line.rstrip().endswith(f"# {marker}"):
                return f"{os.path.relpath(path)}:{lineno}"
    raise AssertionError(f"marker {marker!r} not found in {path}")


def only_leak(report: torchwarden.ScopeReport) -> torchwarden.Leak:
    """The report's one leak; fails with the report's table when there are more or none."""
    assert len(report.leaks) == 1, str(report)
    return report.leaks[0]
