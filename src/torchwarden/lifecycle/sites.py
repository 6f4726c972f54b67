"""Where tensors are created: the first frame of the user's own code.

While an exact scope is open, a ``TorchFunctionMode`` notes each tensor a torch call
returns, with the ``file.py:LINE`` of the innermost frame outside torch and
torchwarden. The mode is pushed only for exact scopes: it costs a few microseconds a
call, too much to leave on for every step.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

__all__ = ["CreationRecorder", "format_site", "recorder", "user_frame"]

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_OWN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_EXAMPLES_DIR = _OWN_DIR + "examples" + os.sep  # the bundled workloads are user code
# Frames of these files are plumbing, never the user's line.
_PLUMBING_FILES = {"contextlib.py", "threading.py", "functools.py"}
_internal_cache: dict[str, bool] = {}


def is_internal(filename: str) -> bool:
    """True for frames of torch, torchwarden, and stdlib plumbing (context managers)."""
    verdict = _internal_cache.get(filename)
    if verdict is None:
        verdict = (
            (filename.startswith((_TORCH_DIR, _OWN_DIR)) and not filename.startswith(_EXAMPLES_DIR))
            or filename.startswith("<frozen")
            or (os.path.basename(filename) in _PLUMBING_FILES and "site-packages" not in filename)
        )
        _internal_cache[filename] = verdict
    return verdict


def user_frame(frame: FrameType | None) -> FrameType | None:
    """The innermost frame at or above ``frame`` that belongs to the user's code."""
    while frame is not None and is_internal(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def format_site(filename: str, lineno: int) -> str:
    """``path/to/file.py:LINE``, relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        rel = filename
    return f"{filename if rel.startswith('..') else rel}:{lineno}"


def site_of(frame: FrameType | None) -> str | None:
    f = user_frame(frame)
    return None if f is None else format_site(f.f_code.co_filename, f.f_lineno)


def _tensors_in(out: Any) -> Iterator[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        yield out
    elif isinstance(out, (tuple, list)):
        for item in out:
            if isinstance(item, torch.Tensor):
                yield item


class _RecordingMode(TorchFunctionMode):
    def __init__(self, note: Callable[[Any], None]) -> None:
        super().__init__()
        self._note = note

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        self._note(out)
        return out


class CreationRecorder:
    """Maps live tensors to the user's line that created them.

    Entries hold weak references only, so recording never extends a tensor's life.
    Shared by every exact scope of the process; each thread pushes its own mode.
    """

    def __init__(self) -> None:
        self._sites: dict[int, tuple[weakref.ref[torch.Tensor], str]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._users = 0

    def _note(self, out: Any) -> None:
        if not self._users:
            return  # a thread's mode outlived the scopes that wanted it
        site: str | None = None
        for t in _tensors_in(out):
            entry = self._sites.get(id(t))
            if entry is not None and entry[0]() is t:
                continue  # in-place ops return their input: keep the first site
            if site is None:
                site = site_of(sys._getframe(2)) or "<unknown>"
            self._sites[id(t)] = (weakref.ref(t), site)

    def site(self, t: torch.Tensor) -> str | None:
        entry = self._sites.get(id(t))
        return entry[1] if entry is not None and entry[0]() is t else None

    def _thread_started(self, frame: Any, event: str, arg: Any) -> None:
        # Runs once in each thread started while an exact scope is open.
        sys.setprofile(None)
        if self._users:
            _RecordingMode(self._note).__enter__()  # type: ignore[no-untyped-call]

    def push(self) -> None:
        """Start recording on this thread; pair with :meth:`pop`, then :meth:`release`."""
        with self._lock:
            self._users += 1
            if self._users == 1:
                threading.setprofile(self._thread_started)
        stack: list[_RecordingMode] = self._local.__dict__.setdefault("modes", [])
        mode = _RecordingMode(self._note)
        mode.__enter__()  # type: ignore[no-untyped-call]
        stack.append(mode)

    def pop(self) -> None:
        """Stop this thread's latest recording; sites stay readable until :meth:`release`."""
        stack: list[_RecordingMode] = self._local.__dict__.get("modes", [])
        if stack:
            stack.pop().__exit__(None, None, None)  # type: ignore[no-untyped-call]

    def release(self) -> None:
        """One reader less; the last one drops every entry."""
        with self._lock:
            self._users -= 1
            if self._users == 0:
                threading.setprofile(None)  # type: ignore[arg-type]
                self._sites.clear()


recorder = CreationRecorder()
