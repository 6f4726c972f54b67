"""A second user for tests run as root: a reachable directory, and code run as ``nobody``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = os.geteuid() == 0
NOBODY = 65534

# The interpreter may live where another user cannot read it: import first, then drop root.
_DROP = (
    "import getpass, json, os, socket, sqlite3, sys, time, psutil\n"
    "from pathlib import Path\n"
    "from torchwarden.runtime.index import RunInfo, register\n"
    f"os.setgid({NOBODY}); os.setuid({NOBODY})\n"
)


@contextmanager
def shared_directory() -> Iterator[Path]:
    """A directory another user can reach (pytest's own temporary root is private)."""
    path = Path(tempfile.mkdtemp(prefix="torchwarden-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def as_nobody(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (``sys.argv[1:]`` = ``args``) as user ``nobody``; needs root."""
    return subprocess.run(
        [sys.executable, "-c", _DROP + code, *args], capture_output=True, text=True,
        timeout=120, cwd="/",
    )  # fmt: skip
