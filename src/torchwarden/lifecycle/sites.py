"""Where tensors are created: the user's line, and the library's when one did the work.

While an exact scope is open, a ``TorchFunctionMode`` notes each tensor a torch call
returns, with its :class:`~torchwarden.frames.Site`: the user's ``file.py:LINE`` and,
when the call came from an installed library, that library's line too. Which frame
is the user's is decided by :mod:`torchwarden.frames`. The mode is pushed only for
exact scopes: it costs a few microseconds a call, too much to leave on every step.

Compiled code never sees the mode. torch.compile guards every compiled frame on the
torch-function mode stack, so a mode present at a call that was absent at compile time
forces a recompilation (and Dynamo would trace the mode itself). While recording, the
mode therefore steps off the stack whenever execution enters compiled code
(``compiled.py``) and back on when it returns; tensors a compiled region returns get
the site of the user's line that called it (the first eager op that touches them).

Aliases are reported as views are: ``detach()`` and the hidden base tensor of
``Tensor.numpy()`` (``arrays.py``) share their input's storage and allocate nothing, so
an alias has its own line (where it was taken, as any tensor) and the line that made
the storage it shares (:meth:`CreationRecorder.origin`): ``kept.append(loss.detach()
.numpy())`` reports the ``append`` line and, as the storage's, the line of ``loss = ...``.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from torchwarden.frames import Site, site_of
from torchwarden.lifecycle.arrays import arrays
from torchwarden.lifecycle.compiled import CompiledGate
from torchwarden.memory.census import storage_key

__all__ = ["UNKNOWN_SITE", "CreationRecorder", "recorder"]

UNKNOWN_SITE = Site("<unknown>")  # made by a torch call with no user or library frame above
_ALIASING = frozenset({"detach", "numpy", "__array__"})  # results share the input's storage


def _tensors_in(out: Any) -> Iterator[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        yield out
    elif isinstance(out, (tuple, list)):
        for item in out:
            if isinstance(item, torch.Tensor):
                yield item
    else:
        base = arrays.note(out)  # the tensor a numpy array keeps alive
        if base is not None:
            yield base


def _aliased(func: Any, args: tuple[Any, ...]) -> torch.Tensor | None:
    """The input whose storage ``func``'s result shares (detach, numpy), if it is one of those."""
    if getattr(func, "__name__", None) in _ALIASING and args:
        source = args[0]
        return source if isinstance(source, torch.Tensor) else None
    return None


def _creation_site(frame: Any) -> Site:
    found = site_of(frame)
    if found.user is None:
        # no user frame (a library's own thread): the library's line is the best answer
        return Site(found.library) if found.library is not None else UNKNOWN_SITE
    return found


class _RecordingMode(TorchFunctionMode):
    def __init__(self, note: Callable[[Any, torch.Tensor | None], None]) -> None:
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
        if not torch.compiler.is_compiling():  # a trace never records: it runs no user line
            self._note(out, _aliased(func, args))
        return out


class CreationRecorder:
    """Maps live tensors to the :class:`~torchwarden.frames.Site` that created them.

    Entries hold weak references only, so recording never extends a tensor's life.
    Shared by every exact scope of the process; each thread pushes its own mode.
    """

    def __init__(self) -> None:
        self._sites: dict[int, tuple[weakref.ref[torch.Tensor], Site]] = {}
        self._origins: dict[int, tuple[weakref.ref[torch.Tensor], Site]] = {}  # aliases
        self._lock = threading.Lock()
        self._local = threading.local()
        self._users = 0
        self._gate = CompiledGate(lambda mode: isinstance(mode, _RecordingMode))

    def _note(self, out: Any, source: torch.Tensor | None = None) -> None:
        if not self._users:
            return  # a thread's mode outlived the scopes that wanted it
        site: Site | None = None
        for t in _tensors_in(out):
            entry = self._sites.get(id(t))
            if entry is not None and entry[0]() is t:
                continue  # in-place ops return their input: keep the first site
            if site is None:
                site = _creation_site(sys._getframe(2))
            ref = weakref.ref(t)
            self._sites[id(t)] = (ref, site)
            origin = self._alias_origin(source, t)
            if origin is not None and origin != site:
                self._origins[id(t)] = (ref, origin)

    def _alias_origin(self, source: torch.Tensor | None, t: torch.Tensor) -> Site | None:
        """Where the storage ``t`` shares with ``source`` was made, if ``t`` is an alias."""
        if source is None or storage_key(source) != storage_key(t):
            return None  # numpy(force=True) of a GPU tensor copies: a new storage, a new site
        return self.origin(source) or self.where(source)

    def origin(self, t: torch.Tensor) -> Site | None:
        """For an alias (``detach()``, ``numpy()``), where the storage it shares was made."""
        entry = self._origins.get(id(t))
        return entry[1] if entry is not None and entry[0]() is t else None

    def where(self, t: torch.Tensor) -> Site | None:
        """Where ``t`` was created, if a torch call made it while an exact scope was open.

        A tensor that compiled code returned gets the user's line of the compiled call.
        """
        entry = self._sites.get(id(t))
        if entry is not None and entry[0]() is t:
            return entry[1]
        compiled = self._gate.site
        if compiled is not None and "Compiled" in type(t.grad_fn).__name__:
            return compiled
        return None

    def site(self, t: torch.Tensor) -> str | None:
        """The user's ``file.py:LINE`` that created ``t`` (see :meth:`where`)."""
        found = self.where(t)
        return None if found is None else found.user

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
                self._gate.install()
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
                self._gate.remove()
                self._sites.clear()
                self._origins.clear()


recorder = CreationRecorder()
