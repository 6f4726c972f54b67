"""Run probes in the zygote subprocess and collect one result per probe, whatever happens.

The zygote enforces each probe's timeout; this side enforces an overall deadline on the
zygote itself, so even a zygote that cannot import torch yields a result per probe.
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from torchwarden.env.probes import Probe
from torchwarden.env.verdict import severity
from torchwarden.findings import ProbeFinding

__all__ = ["FINGERPRINT", "ProbeRun", "default_jobs", "run_probes", "skipped"]

Callback = Callable[[dict[str, Any]], None]
# torch's part of the fingerprint is read in a child too: one `import torch` serves both,
# and a torch that segfaults on import is described instead of taking the doctor down
FINGERPRINT = Probe("fingerprint", "torchwarden.env.fingerprint:torch_part", "torch facts", "")
_IMPORT_ALLOWANCE_S = 120.0  # a cold `import torch` on network storage can take a minute


def default_jobs() -> int:
    """Two probes at a time where there are cores for them; they are mostly single-threaded."""
    return 2 if (os.cpu_count() or 1) >= 4 else 1


def _finding(probe: Probe, status: str, message: str, **extra: Any) -> ProbeFinding:
    return ProbeFinding(
        probe=probe.name, title=probe.title, status=status, message=message,
        fix=probe.fix if status == "fail" else "", severity=severity(status), **extra,
    )  # fmt: skip


def skipped(probes: Sequence[Probe], why: str) -> list[ProbeFinding]:
    return [_finding(p, "skip", why) for p in probes]


class ProbeRun:
    """Start the zygote at once (it imports torch while the caller does other work)."""

    def __init__(
        self, probes: Sequence[Probe], *, jobs: int | None = None, fingerprint: bool = False
    ) -> None:
        self.probes = list(probes)
        self.torch_part: dict[str, Any] | None = None  # FINGERPRINT's result once it reported
        self._running: dict[str, int] = {}  # probe name -> pid (= its process group)
        # longest first so the short ones overlap it; exclusive ones last so nothing waits
        ordered = sorted(self.probes, key=lambda p: (p.exclusive, -p.timeout_s))
        specs = [_spec(p) for p in ([FINGERPRINT] if fingerprint else []) + ordered]
        self._stderr: IO[str] = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in results)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "torchwarden.env.probes.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=_child_env(),
        )
        request = {"probes": specs, "jobs": jobs or default_jobs()}
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(request))
        self._proc.stdin.close()
        self._deadline = time.monotonic() + _IMPORT_ALLOWANCE_S + sum(p.timeout_s for p in probes)

    def results(self, on_event: Callback | None = None) -> list[ProbeFinding]:
        """Block until every probe has a result; ``on_event`` sees start/result events live."""
        by_name: dict[str, ProbeFinding] = {}
        try:
            for event in self._events():
                self._track(event)
                if event.get("name") == FINGERPRINT.name:
                    self.torch_part = event if event["event"] == "result" else None
                    continue
                if on_event is not None:
                    on_event(event)
                if event.get("event") == "result":
                    by_name[event["name"]] = self._result(event)
        finally:
            self._stop()
        why = self._why_stopped()
        if self.torch_part is None:
            self.torch_part = {"status": "fail", "message": why}
        return [by_name.get(p.name) or _finding(p, "fail", why, error=why) for p in self.probes]

    def _events(self) -> Any:
        assert self._proc.stdout is not None
        # readline blocks, so the deadline is enforced by a timer that kills the zygote
        import threading

        timer = threading.Timer(max(0.0, self._deadline - time.monotonic()), self._proc.kill)
        timer.daemon = True
        timer.start()
        try:
            for line in self._proc.stdout:
                if line.startswith("{"):
                    yield json.loads(line)
        finally:
            timer.cancel()

    def _result(self, event: dict[str, Any]) -> ProbeFinding:
        probe = next(p for p in self.probes if p.name == event["name"])
        failed = event.get("status") == "fail"
        return _finding(
            probe,
            event.get("status", "fail"),
            event.get("message", ""),
            duration_s=event.get("duration_s", 0.0),
            error=event.get("message") if failed else None,
            details=event.get("details", {}),
            output=event.get("output", "") if failed else "",
        )

    def _track(self, event: dict[str, Any]) -> None:
        if event.get("event") == "start":
            self._running[event["name"]] = int(event["pid"])
        elif event.get("event") == "result":
            self._running.pop(event["name"], None)

    def _stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        # a zygote that died mid-probe leaves that probe's process group behind: end it
        for pid in self._running.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def _why_stopped(self) -> str:
        self._stderr.seek(0)
        tail = self._stderr.read()[-1500:].strip()
        self._stderr.close()
        code = self._proc.returncode
        return f"probe runner stopped (exit code {code}) before this probe reported: {tail or 'no output'}"


def run_probes(
    probes: Sequence[Probe], *, jobs: int | None = None, on_event: Callback | None = None
) -> list[ProbeFinding]:
    """Run ``probes`` (in a zygote subprocess) and return one finding per probe, in order."""
    return ProbeRun(probes, jobs=jobs).results(on_event)


def _spec(probe: Probe) -> dict[str, Any]:
    return {"name": probe.name, "target": probe.target, "timeout_s": probe.timeout_s,
            "exclusive": probe.exclusive}  # fmt: skip


def _child_env() -> dict[str, str]:
    """Make sure the zygote imports this torchwarden, also when it runs from a source tree."""
    env = dict(os.environ)
    # the zygote must never initialise the CUDA driver, or its forked children cannot use it;
    # this makes torch.cuda.is_available() ask NVML instead of cuInit
    env.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    src = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env
