"""The probe server: imports torch once, then forks one child per probe.

Run as ``python -m torchwarden.env.probes.zygote``; reads one JSON request on stdin
(``{"probes": [{"name", "target", "timeout_s", "exclusive"}], "jobs": N}``) and writes one
JSON event per line on stdout: ``ready``, then ``start`` and ``result`` per probe, ``done``.

Why fork: ``import torch`` costs ~2 s, and paying it once keeps ``doctor --quick`` fast, while a
child per probe still turns a segfault or a hang into a reported failure. This process must
never initialise CUDA, or forked children could not use it; if it ever finds CUDA initialised
(or has no ``fork``, or ``TORCHWARDEN_PROBE_ISOLATION=spawn``), it spawns a fresh interpreter
per probe instead: slower, equally isolated.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchwarden.env.probes import child as child_process

__all__ = ["main"]

_POLL_S = 0.01
_OUTPUT_TAIL = 2000  # characters of a failed child's stdout/stderr kept in its result
Ended = tuple[int | None, int | None]  # (signal, exit code) of a child that ended


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


@dataclass
class Child:
    spec: dict[str, Any]
    pid: int  # also its process group
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None  # set on the spawn path
    started: float = field(default_factory=time.monotonic)

    @property
    def deadline(self) -> float:
        return self.started + float(self.spec["timeout_s"])

    def poll(self) -> Ended | None:
        if self.proc is not None:
            code = self.proc.poll()
            return None if code is None else ((-code, None) if code < 0 else (None, code))
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return None
        if os.WIFSIGNALED(status):
            return os.WTERMSIG(status), None
        return None, os.WEXITSTATUS(status)

    def kill(self) -> None:
        """End the child's whole process group (DataLoader workers, compile pools) and reap it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
        else:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)


def _start(spec: dict[str, Any], root: Path, spawn: bool) -> Child:
    workdir = Path(tempfile.mkdtemp(prefix=f"{spec['name']}-", dir=root))
    parent = os.getpid()
    if spawn:
        argv = [
            sys.executable,
            "-m",
            "torchwarden.env.probes.child",
            spec["target"],
            str(workdir),
            str(parent),
        ]
        proc = subprocess.Popen(argv, start_new_session=True)
        started = Child(spec, proc.pid, workdir, proc)
    else:
        sys.stdout.flush()  # the child must not inherit unflushed protocol lines
        with warnings.catch_warnings():
            # Python 3.12+ warns that torch's helper thread exists; the child uses none of its state
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            child_process.die_with(parent)
            os.setpgid(0, 0)  # its own group, so a timeout also ends what it started
            child_process.run(spec["target"], workdir)
        started = Child(spec, pid, workdir)
    emit({"event": "start", "name": spec["name"], "pid": started.pid})
    return started


def _finish(child: Child, ended: Ended | None) -> dict[str, Any]:
    """Turn how the child ended into a result; ``ended`` None means it timed out."""
    child.kill()  # after a normal exit this still ends stragglers in its group
    result_file = child.workdir / "result.json"
    outcome: dict[str, Any]
    if ended is None:
        outcome = {
            "status": "fail",
            "message": f"timed out after {child.spec['timeout_s']:g} s (hung)",
        }
    elif ended[0] is not None:
        outcome = {
            "status": "fail",
            "message": f"crashed: killed by {_signame(ended[0])} ({ended[0]})",
        }
    elif result_file.exists():
        outcome = json.loads(result_file.read_text())
    else:
        outcome = {"status": "fail", "message": f"exited with code {ended[1]} and no result"}
    if outcome.get("status") == "fail":
        outcome["output"] = _tail(child.workdir / "output")
    outcome["duration_s"] = round(time.monotonic() - child.started, 3)
    return {"event": "result", "name": child.spec["name"], **outcome}


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-_OUTPUT_TAIL:]
    except OSError:
        return ""


def run(specs: list[dict[str, Any]], jobs: int, root: Path, spawn: bool) -> None:
    pending = list(specs)
    running: list[Child] = []
    while pending or running:
        while pending and _may_start(pending[0], running, jobs):
            running.append(_start(pending.pop(0), root, spawn))
        time.sleep(_POLL_S)
        for child in list(running):
            ended = child.poll()
            if ended is None and time.monotonic() < child.deadline:
                continue
            running.remove(child)
            emit(_finish(child, ended))


def _may_start(spec: dict[str, Any], running: list[Child], jobs: int) -> bool:
    if spec.get("exclusive") or any(c.spec.get("exclusive") for c in running):
        return not running
    return len(running) < jobs


def _preload() -> bool:
    """Import what every child needs; say whether forking is still safe afterwards."""
    import torch
    import torch._dynamo  # the first optimizer step imports it: ~1 s per child

    import torchwarden.env.probes.compute
    import torchwarden.env.probes.dataflow  # noqa: F401

    return not torch.cuda.is_initialized()  # type: ignore[no-untyped-call]


def main() -> None:
    request = json.loads(sys.stdin.read())
    started = time.monotonic()
    spawn = os.environ.get("TORCHWARDEN_PROBE_ISOLATION") == "spawn" or not hasattr(os, "fork")
    if not spawn:
        spawn = not _preload()
    emit({"event": "ready", "import_s": round(time.monotonic() - started, 3),
          "isolation": "spawn" if spawn else "fork"})  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="torchwarden-probes-") as root:
        run(request["probes"], max(1, int(request.get("jobs", 1))), Path(root), spawn)
    emit({"event": "done"})
    os._exit(0)  # torch's interpreter teardown costs ~0.7 s and there is nothing left to flush


if __name__ == "__main__":
    main()
