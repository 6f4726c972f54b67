"""The lease keeper: holds a lease until every process the run started has ended.

Why a separate process. A lease is a ``flock`` and a guard socket, held while any
descriptor on them is open. Descriptors are passed on to children (they are not
close-on-exec), which covers ``fork``, ``os.system`` and shells; but Python's
``subprocess`` and ``multiprocessing`` close inherited descriptors by default, and so
does torchrun when it starts ranks. Those children would keep using the GPU after a
SIGKILLed ``torchwarden run`` had, by dying, given the GPU away.

The keeper is started when a lease is taken, detached (double fork, own session, so
neither Ctrl-C nor the runner's clean-up of its children reaches it), and holds
copies of the lease's descriptors. Every process the run starts carries a token in its
environment (``TORCHWARDEN_LEASE_TOKEN``). When the run releases the lease, or dies
(its end of our stdin closes), the keeper looks in ``/proc`` for live processes of
this user that carry the token, rewrites the holder record to say so, and closes the
descriptors only when none is left. It answers ``free`` or ``held N`` on stdout.

Run as a file (``python -I -S lease_keeper.py TOKEN FD...``): stdlib only, so that it
starts in milliseconds and imports neither torch nor torchwarden.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

__all__ = ["TOKEN_VAR", "Keeper", "carriers"]

TOKEN_VAR = "TORCHWARDEN_LEASE_TOKEN"
_POLL_S = 0.25
_ANSWER_S = 5.0  # how long release() waits for the keeper's answer


class Keeper:
    """The run's side: start a keeper on the lease's descriptors; tell it when released."""

    def __init__(self, fds: Sequence[int]) -> None:
        self.token = secrets.token_hex(16)
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", __file__, self.token, *map(str, fds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            pass_fds=tuple(fds),
            cwd="/",
            # not counted among an outer run's processes: those are the ones it waits for
            env={k: v for k, v in os.environ.items() if k != TOKEN_VAR},
        )
        proc.wait()  # the first of the double fork exits at once
        assert proc.stdin is not None and proc.stdout is not None
        self._stdin, self._stdout = proc.stdin, proc.stdout

    def token_value(self) -> str:
        """``TORCHWARDEN_LEASE_TOKEN`` for the run's processes; an outer run's token is kept."""
        outer = os.environ.get(TOKEN_VAR)
        return f"{outer}:{self.token}" if outer else self.token

    def release(self) -> str:
        """Tell the keeper the run is done; its answer: ``free``, ``held N`` or ``""``."""
        try:
            self._stdin.write(b"release\n")
            self._stdin.close()
        except OSError:  # the keeper was killed: nothing holds the lease but us
            pass
        try:
            ready, _, _ = select.select([self._stdout], [], [], _ANSWER_S)
            return self._stdout.readline().decode().strip() if ready else ""
        finally:
            self._stdout.close()


def carriers(token: str, *, skip: int) -> list[int]:
    """Live processes of this user whose environment carries ``token``."""
    needle = f"{TOKEN_VAR}=".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == skip:
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != os.geteuid():
                continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
        except OSError:  # gone, or not ours to read
            continue
        for var in environ.split(b"\0"):
            if var.startswith(needle) and token.encode() in var[len(needle) :].split(b":"):
                found.append(int(entry))
                break
    return found


def _say(line: str) -> None:
    with contextlib.suppress(OSError):  # the run is gone; nobody to tell
        os.write(1, line.encode() + b"\n")


def _note_waiting(fds: list[int], pids: list[int]) -> None:
    """Rewrite each holder record: the keeper holds it now, for these processes."""
    for fd in fds:
        try:
            record = json.loads(os.pread(fd, 4097, 0) or b"{}")
            record["pid"] = os.getpid()
            shown = " ".join(map(str, pids[:8]))
            note = f" (run ended; held for its {len(pids)} process(es) still running: {shown})"
            record["command"] = str(record.get("command", ""))[: 2048 - len(note)] + note
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
        except (OSError, ValueError, AttributeError, TypeError):
            continue  # not a lock file (the guard socket), or a record we cannot read


def _release(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):  # not a file: the guard socket
            os.ftruncate(fd, 0)  # so nobody reads a stale holder record
        os.close(fd)


def keep(token: str, fds: list[int]) -> None:
    """Wait for the run to release or die, then for its processes; then give the lease up."""
    while os.read(0, 64) not in (b"", b"release\n"):
        continue
    os.close(0)
    announced = False
    while True:
        pids = carriers(token, skip=os.getpid())
        if not pids:
            _release(fds)
            if not announced:
                _say("free")
            return
        if not announced:
            _note_waiting(fds, pids)
            _say(f"held {len(pids)}")
            os.close(1)
            announced = True
        time.sleep(_POLL_S)


def main(argv: list[str]) -> None:
    token, fds = argv[0], [int(a) for a in argv[1:]]
    if os.fork():  # the parent exits at once: the keeper is nobody's child to reap
        os._exit(0)
    os.setsid()
    os.chdir("/")  # pin no directory of the run's
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    keep(token, fds)


if __name__ == "__main__":
    main(sys.argv[1:])
