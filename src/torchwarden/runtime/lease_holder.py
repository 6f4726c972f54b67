"""The holder record: who holds a lease, written into the lock file, read by whoever waits.

Any user may write into a shared lock file, so a record read back is untrusted input:
it is validated field by field (types, lengths, printable text, a plausible pid) and
only ever *shown*. Whether a GPU is taken is decided by the lock, never by the record.
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import socket
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from torchwarden.untrusted import UntrustedInput, check_text, loads

__all__ = ["HOLDER_SCHEMA", "MAX_RECORD_BYTES", "Holder", "parse_holder"]

HOLDER_SCHEMA = "torchwarden.lease/1"
MAX_RECORD_BYTES = 4096
_PID_MAX = 1 << 22  # the kernel's upper limit for pid_max on 64-bit Linux
# field -> longest accepted text; the command is cut to fit when written
_TEXT_FIELDS = {"user": 64, "host": 255, "command": 2048, "since": 32}


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: written by the holder, read by everyone who finds it taken."""

    user: str
    pid: int
    host: str
    command: str
    since: str  # ISO 8601, UTC, seconds: 2026-11-21T10:02:11Z

    @classmethod
    def of_this_process(cls, command: str | None = None) -> Holder:
        try:  # the account, not $USER: a process that switched user keeps the variable
            user = pwd.getpwuid(os.geteuid()).pw_name
        except KeyError:  # no passwd entry, as in some containers
            user = f"uid {os.geteuid()}"
        text = command if command is not None else shlex.join(sys.argv)
        return cls(
            user=_printable(user, _TEXT_FIELDS["user"]),
            pid=os.getpid(),
            host=_printable(socket.gethostname(), _TEXT_FIELDS["host"]),
            command=_printable(text, _TEXT_FIELDS["command"]),
            since=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    @classmethod
    def unnamed(cls) -> Holder:
        """A holder whose record is missing, not yet written, or unreadable."""
        return cls(user="an unnamed process", pid=-1, host="", command="", since="")

    def describe(self) -> str:
        """``alice (pid 4242, `python train.py`, since 2026-11-21T10:02:11Z)``."""
        if self.pid < 0:
            return self.user
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"{self.user} (pid {self.pid}{where}, `{self.command}`, since {self.since})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def record(self) -> bytes:
        """The bytes written into the lock file."""
        return json.dumps({"schema": HOLDER_SCHEMA, **self.to_dict()}).encode()

    def may_be_alive(self) -> bool:
        """False only when the holder's process is known to be gone (same host, no such pid)."""
        if self.pid < 0 or self.host != socket.gethostname():
            return self.pid >= 0
        try:
            os.kill(self.pid, 0)  # signal 0: existence check, sends nothing
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, owned by another user
            return True
        return True

    def write_to(self, fd: int) -> None:
        os.ftruncate(fd, 0)
        os.pwrite(fd, self.record(), 0)


def parse_holder(data: bytes) -> Holder | None:
    """The holder in a record, or ``None`` when it is empty or not a valid record."""
    if not data or len(data) > MAX_RECORD_BYTES:
        return None
    try:
        record = loads(data, max_depth=2)
    except UntrustedInput:
        return None
    if not isinstance(record, dict) or record.get("schema") != HOLDER_SCHEMA:
        return None
    if any(check_text(record.get(k), max_len=n) for k, n in _TEXT_FIELDS.items()):
        return None
    pid = record.get("pid")
    if type(pid) is not int or not 0 < pid < _PID_MAX:
        return None
    return Holder(**{k: record[k] for k in (*_TEXT_FIELDS, "pid")})


def _printable(text: str, limit: int) -> str:
    """``text`` made fit for a record: control characters replaced, cut to ``limit``."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"
