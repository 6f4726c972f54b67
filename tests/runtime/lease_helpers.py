"""Real processes that hold leases (or raw locks) for the lease attack tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

import psutil

# Leases argv[1] in argv[2] through the API, as `torchwarden run` does (token in the
# environment); with argv[3], starts a child the way most code does (subprocess, which
# closes inherited descriptors) that runs until the file argv[3] exists. Prints the
# child's pid, or "held"; holds until stdin closes or it is killed.
HOLDER = """
import os, subprocess, sys
from pathlib import Path
from torchwarden.runtime.lease import acquire, parse_gpu_request
lease = acquire(parse_gpu_request(sys.argv[1]), available=range(4), lease_dir=Path(sys.argv[2]),
                command="python train.py")
os.environ.update(lease.env())
if len(sys.argv) > 3:
    child = subprocess.Popen([sys.executable, "-c", CHILD, sys.argv[3]])
    print(child.pid, flush=True)
else:
    print("held", flush=True)
sys.stdin.read()
"""

# Runs until the file argv[1] exists (at most two minutes): a rank, a worker, a server.
CHILD = """
import os, sys, time
for _ in range(2400):
    if os.path.exists(sys.argv[1]):
        break
    time.sleep(0.05)
"""

# Locks argv[1] (a lock file) without torchwarden and writes the record read from stdin's
# first line (hex) into it: a hostile user holding a GPU.
RAW_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.pwrite(fd, bytes.fromhex(sys.argv[2]), 0)
print("held", flush=True)
sys.stdin.read()
"""

_SETPRIV = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
# the other user finds our packages through PYTHONPATH: it may not read our virtual env
_NOBODY_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def _nobody_python() -> list[str]:
    """setpriv and an interpreter that uid 65534 may run (and run again, for the keeper)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        check = "import os, sys, torchwarden; sys.exit(not os.access(sys.executable, os.X_OK))"
        try:
            done = subprocess.run([*_SETPRIV, python, "-c", check], env=_NOBODY_ENV, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return [*_SETPRIV, python]
    return []


NOBODY = _nobody_python() if shutil.which("setpriv") else []


def start(code: str, *args: str, as_nobody: bool = False) -> subprocess.Popen[str]:
    """``python -c code args`` (as uid 65534); returns once it printed its first line."""
    source = f"CHILD = {CHILD!r}\n{code}"
    python = NOBODY if as_nobody else [sys.executable]
    proc = subprocess.Popen(
        [*python, "-c", source, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_NOBODY_ENV if as_nobody else None,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line, proc.stderr.read() if proc.stderr else ""
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.communicate()


def run_as_nobody(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NOBODY, "-c", code, *args], capture_output=True, text=True, timeout=120, env=_NOBODY_ENV
    )


def eventually(condition: Callable[[], bool], *, tries: int = 1200) -> bool:
    """``condition()`` became true within ``tries`` looks 50 ms apart (bounded, not timed)."""
    for _ in range(tries):
        if condition():
            return True
        time.sleep(0.05)
    return False


def alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (a killed child whose parent has not reaped it yet is gone)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
