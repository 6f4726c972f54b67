"""The keeper: a small process that outlives a run, ends what a killed run left, holds its lease.

Why a separate process. A SIGKILLed ``torchwarden run`` (or one the OOM killer took)
runs no clean-up, and the processes its script started live on: ``subprocess``
children, shells and their children, ``multiprocessing`` workers, torchrun and its
ranks. They hold GPU memory, and with a lease they would keep a GPU that the lease
said was free. Only another process can act on a death, so ``torchwarden run`` starts a
keeper for every run: detached (double fork, own session, so neither Ctrl-C nor the
runner's clean-up of its children reaches it), standard library only, holding copies
of the lease's descriptors when the run leases GPUs.

Which processes are the run's. Those of this user that carry the run's token in their
environment (``TORCHWARDEN_RUN_TOKEN``: every process exec'd by the run or below it),
or that hold the keeper's stdin pipe (processes forked from the run without exec, such
as ``multiprocessing`` and DataLoader workers under the ``fork`` start method: the
environment ``/proc`` shows for them is the one the run was started with, before the
token). A process that clears its environment and closes its descriptors escapes; it
can use any GPU anyway.

The death. The keeper watches the run through a pidfd (and its stdin, where the kernel
has no pidfd: a forked child holding the pipe then delays the news until it ends). A run
that ends by any other path says ``release`` first. When the run died without saying it,
an ending keeper sends SIGTERM (and SIGCONT, for stopped ones) to every process of the
run, then SIGKILL to those left after a grace period; each signal goes through a pidfd
opened before the process is checked once more, so a reused pid is never signalled.
Then, holding a lease, it rewrites the holder record and gives the lease up when none
is left. ``PR_SET_PDEATHSIG`` would not do instead: it reaches only direct children (a
shell's children and torchrun's ranks are grandchildren), fires when the *thread* that
started the child exits (a worker started from a helper thread would die with that
thread), and is cleared by exec of a set-uid program.

Run as a file (``python -I -S keeper.py TOKEN RUN_PID end|hold GRACE_S FD...``): stdlib
only, so that it starts in milliseconds and imports neither torch nor torchwarden.
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
from collections.abc import Collection, Sequence

__all__ = ["GRACE_S", "TOKEN_VAR", "Keeper", "members"]

TOKEN_VAR = "TORCHWARDEN_RUN_TOKEN"
GRACE_S = 10.0  # SIGTERM to SIGKILL: time for a rank to write its record and leave
_POLL_S = 0.25
_ANSWER_S = 5.0  # how long release() waits for the keeper's answer


class Keeper:
    """The run's side: start a keeper (on a lease's descriptors); tell it when released.

    ``end_orphans``: if this process dies without :meth:`release`, the keeper ends every
    process of the run (``torchwarden run``); otherwise it only holds the lease for them.
    """

    def __init__(
        self, fds: Sequence[int] = (), *, end_orphans: bool = False, grace_s: float = GRACE_S
    ) -> None:
        self.token = secrets.token_hex(16)
        mode = "end" if end_orphans else "hold"
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", __file__, self.token, str(os.getpid()), mode,
             repr(float(grace_s)), *map(str, fds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            pass_fds=tuple(fds),
            cwd="/",
            # not counted among an outer run's processes: those are the ones it waits for
            env={k: v for k, v in os.environ.items() if k != TOKEN_VAR},
            start_new_session=True,  # a Ctrl-C at the terminal never reaches it
        )  # fmt: skip
        # not waited for: it starts (~40 ms) while the run imports torch; the first of
        # the double fork, which exits at once, is reaped by release()
        assert proc.stdin is not None and proc.stdout is not None
        self._proc, self._stdin, self._stdout = proc, proc.stdin, proc.stdout

    def token_value(self) -> str:
        """``TORCHWARDEN_RUN_TOKEN`` for the run's processes; an outer run's token is kept."""
        outer = os.environ.get(TOKEN_VAR)
        return f"{outer}:{self.token}" if outer else self.token

    def env(self) -> dict[str, str]:
        return {TOKEN_VAR: self.token_value()}

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
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(_ANSWER_S)


def members(token: str, pipe: int | None, *, skip: Collection[int]) -> list[int]:
    """Live processes of this user that carry ``token`` or hold the pipe inode ``pipe``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in skip and _is_member(entry, token, pipe):
            found.append(int(entry))
    return found


def _is_member(pid: str, token: str, pipe: int | None) -> bool:
    try:
        if os.stat(f"/proc/{pid}").st_uid != os.geteuid():
            return False
        return _carries(pid, token) or (pipe is not None and _holds(pid, f"pipe:[{pipe}]"))
    except OSError:  # gone, or not ours to read
        return False


def _carries(pid: str, token: str) -> bool:
    needle = f"{TOKEN_VAR}=".encode()
    with open(f"/proc/{pid}/environ", "rb") as f:  # empty for a zombie: not a member
        environ = f.read()
    for var in environ.split(b"\0"):
        if var.startswith(needle) and token.encode() in var[len(needle) :].split(b":"):
            return True
    return False


def _holds(pid: str, link: str) -> bool:
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile
            if os.readlink(f"/proc/{pid}/fd/{fd}") == link:
                return True
    return False


def _signal(pid: int, signums: Sequence[int], token: str, pipe: int | None) -> None:
    """Signal ``pid`` if it is still the run's; the pidfd pins the process that was checked."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:  # gone (or no pidfd in this kernel: then the check is as close as it gets)
        pidfd = -1
    try:
        if _is_member(str(pid), token, pipe):
            for signum in signums:
                if pidfd >= 0:
                    signal.pidfd_send_signal(pidfd, signum)
                else:
                    os.kill(pid, signum)
    except OSError:  # it ended meanwhile
        pass
    finally:
        if pidfd >= 0:
            os.close(pidfd)


def end_run(token: str, pipe: int | None, skip: Collection[int], grace_s: float) -> None:
    """SIGTERM every process of the run (new ones too); SIGKILL those left after ``grace_s``."""
    deadline, asked = time.monotonic() + grace_s, set[int]()
    while time.monotonic() < deadline:
        pids = set(members(token, pipe, skip=skip))
        if not pids:
            return
        for pid in pids - asked:
            _signal(pid, (signal.SIGTERM, signal.SIGCONT), token, pipe)
        asked |= pids
        time.sleep(0.05)
    for _ in range(200):  # bounded: a process in uninterruptible sleep is waited for below
        pids = set(members(token, pipe, skip=skip))
        if not pids:
            return
        for pid in pids:
            _signal(pid, (signal.SIGKILL,), token, pipe)
        time.sleep(0.05)


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


def _await_run(run_fd: int | None) -> bool:
    """Block until the run says ``release`` (True) or dies (False)."""
    watched, heard = [0] if run_fd is None else [0, run_fd], b""
    while b"release\n" not in heard:
        ready, _, _ = select.select(watched, [], [])
        if 0 in ready or select.select([0], [], [], 0)[0]:  # a release written just before death
            chunk = os.read(0, 64)
            heard += chunk
            if not chunk:  # every writer is gone
                return b"release\n" in heard
        if run_fd in ready and b"release\n" not in heard:
            return False
    return True


def keep(
    token: str, run: tuple[int, int | None], end: bool, grace_s: float, fds: list[int]
) -> None:
    """Wait for the run to release or die; end its processes if asked; hold the lease for them."""
    run_pid, run_fd = run
    released = _await_run(run_fd)
    pipe, skip = os.fstat(0).st_ino, {os.getpid(), run_pid}
    if end and not released:
        left = members(token, pipe, skip=skip) if fds else []
        if left:  # while they are ended, whoever waits for the GPU is told why
            _note_waiting(fds, left)
        end_run(token, pipe, skip, grace_s)
    # stdin stays open: while the pipe lives its inode cannot name another process's pipe
    announced = False
    while True:
        pids = members(token, pipe, skip=skip) if fds else []  # no lease: nothing to hold
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


def _watch(pid: int) -> int | None:
    """A pidfd on the run (our parent, before the fork); None where there is none to be had."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return None
    if os.getppid() != pid:  # the run died before we looked: its stdin pipe will say so
        os.close(fd)
        return None
    return fd


def main(argv: list[str]) -> None:
    token, run_pid, mode, grace_s = argv[0], int(argv[1]), argv[2], float(argv[3])
    run_fd = _watch(run_pid)
    if os.fork():  # the parent exits at once (the run reaps it): the keeper is nobody's child
        os._exit(0)
    os.setsid()
    os.chdir("/")  # pin no directory of the run's
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    keep(token, (run_pid, run_fd), mode == "end", grace_s, [int(a) for a in argv[4:]])


if __name__ == "__main__":
    main(sys.argv[1:])
