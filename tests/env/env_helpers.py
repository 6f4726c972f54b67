"""Helpers for the environment-layer tests: recorded fingerprints and a real CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
SRC = Path(__file__).resolve().parents[2] / "src"


def fixture(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return document


def fingerprint(name: str) -> dict[str, Any]:
    fp: dict[str, Any] = fixture(name)["fingerprint"]
    return fp


def run_cli(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m torchwarden ARGS`` in a real subprocess, as a user or a CI job runs it."""
    environ = {**os.environ, **(env or {})}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(SRC), environ.get("PYTHONPATH"))))
    environ["COLUMNS"] = "200"  # rich wraps at 80 without a terminal; keep messages on one line
    return subprocess.run(
        [sys.executable, "-m", "torchwarden", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environ,
    )
