"""Which frame is the user's: the one owner of that decision.

Every report names the user's own line, ``path/to/file.py:LINE``: where a tensor was
made, where a copy or a sync happened, where a run failed. A frame is classified by
its file:

    torchwarden    this package (its bundled ``examples/`` count as user code)
    torch          PyTorch itself
    library        an installed package (site-packages, dist-packages) or the
                   standard library
    plumbing       frames that are never anyone's line: ``<frozen ...>``, runpy,
                   contextlib, threading, functools
    user           everything else: scripts, notebooks' cells, tests, editable installs

The user's site is the innermost ``user`` frame; the library site (kept in a second
field) is the innermost ``library`` frame below it, when the user's line reached the
allocation through a library. Verdicts are cached per file name, so a lookup costs a
dict access per frame. A leaf: imports nothing from torchwarden.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Literal

__all__ = [
    "FrameKind",
    "Site",
    "caller_site",
    "classify",
    "format_site",
    "is_user",
    "site_of",
    "traceback_site",
    "user_frame",
]

FrameKind = Literal["user", "torchwarden", "torch", "library", "plumbing"]

_OWN_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_EXAMPLES_DIR = _OWN_DIR + "examples" + os.sep  # the bundled workloads are user code
_PLUMBING_FILES = {"contextlib.py", "threading.py", "functools.py", "runpy.py"}


def _torch_dir() -> str | None:
    # Found without importing torch: `import torchwarden` must stay light.
    for entry in sys.path:
        candidate = os.path.join(entry or os.getcwd(), "torch", "__init__.py")
        if os.path.isfile(candidate):
            return os.path.dirname(os.path.abspath(candidate)) + os.sep
    return None


def _library_dirs() -> tuple[str, ...]:
    dirs = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    dirs.update(getattr(site, "getsitepackages", list)())
    user_site = getattr(site, "getusersitepackages", lambda: None)()
    if isinstance(user_site, str):
        dirs.add(user_site)
    return tuple(os.path.abspath(d) + os.sep for d in dirs if d)


_TORCH_DIR = _torch_dir()
_LIBRARY_DIRS = _library_dirs()
_cache: dict[str, FrameKind] = {}


def classify(filename: str) -> FrameKind:
    """Which kind of code ``filename`` (a ``co_filename``) holds."""
    kind = _cache.get(filename)
    if kind is None:
        kind = _cache[filename] = _classify(filename)
    return kind


def _classify(filename: str) -> FrameKind:
    # contextlib & co. are plumbing only where they are the standard library's
    plumbing = filename.startswith("<frozen") or os.path.basename(filename) in _PLUMBING_FILES
    if plumbing and filename.startswith(("<", *_LIBRARY_DIRS)):
        return "plumbing"
    path = filename if filename.startswith("<") else os.path.abspath(filename)
    if path.startswith(_OWN_DIR):
        return "user" if path.startswith(_EXAMPLES_DIR) else "torchwarden"
    if _TORCH_DIR is not None and path.startswith(_TORCH_DIR):
        return "torch"
    if path.startswith(_LIBRARY_DIRS) or f"{os.sep}site-packages{os.sep}" in path:
        return "library"
    if f"{os.sep}dist-packages{os.sep}" in path:
        return "library"
    return "user"


def is_user(filename: str) -> bool:
    """True when ``filename`` holds the user's own code."""
    return classify(filename) == "user"


@dataclass(frozen=True)
class Site:
    """The user's line and, when a library did the work, the library's line."""

    user: str | None
    library: str | None = None


_shown: dict[tuple[str, str], str] = {}  # (file, working dir) -> how the file is shown


def _shown_path(filename: str) -> str:
    try:
        rel = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        rel = filename
    return filename if rel.startswith("..") or filename.startswith("<") else rel


def format_site(filename: str, lineno: int) -> str:
    """``path/to/file.py:LINE``, relative to the working directory when inside it;
    ``In[N]:LINE`` for a cell of the running IPython or Jupyter kernel.

    Called for every tensor a recorded torch call makes: the path is computed once
    per file and working directory (relpath alone costs tens of microseconds).
    """
    key = (filename, os.getcwd())
    shown = _shown.get(key)
    if shown is None:
        cell = _cell_name(filename)
        if cell is not None:  # never cached: cells with the same source share one file
            return f"{cell}:{lineno}"
        shown = _shown[key] = _shown_path(filename)
    return f"{shown}:{lineno}"


def _cell_name(filename: str) -> str | None:
    """``In[N]`` when ``filename`` is a cell's code in the running IPython shell.

    IPython knows which temporary file holds which cell; without a running shell
    (or IPython never imported) this is a dictionary lookup that finds nothing.
    """
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    name_of = getattr(getattr(shell, "compile", None), "format_code_name", None)
    found = name_of(filename) if callable(name_of) else None
    return str(found[1]) if found else None


def user_frame(frame: FrameType | None) -> FrameType | None:
    """The innermost frame at or above ``frame`` that belongs to the user's code."""
    while frame is not None and classify(frame.f_code.co_filename) != "user":
        frame = frame.f_back
    return frame


def site_of(frame: FrameType | None) -> Site:
    """The user's site at or above ``frame``, and the innermost library frame below it."""
    library: str | None = None
    while frame is not None:
        code = frame.f_code
        kind = classify(code.co_filename)
        if kind == "user":
            return Site(format_site(code.co_filename, frame.f_lineno), library)
        if kind == "library" and library is None:
            library = format_site(code.co_filename, frame.f_lineno)
        frame = frame.f_back
    return Site(None, library)


def caller_site(depth: int = 1) -> Site:
    """:func:`site_of` the frame ``depth`` levels above the caller."""
    return site_of(sys._getframe(depth + 1))


def traceback_site(tb: TracebackType | None) -> Site:
    """The user's line of a traceback: its innermost user frame (where it was raised)."""
    user: str | None = None
    library: str | None = None
    while tb is not None:
        code = tb.tb_frame.f_code
        kind = classify(code.co_filename)
        here = format_site(code.co_filename, tb.tb_lineno)
        if kind == "user":
            user, library = here, None
        elif kind == "library" and library is None and user is not None:
            library = here
        tb = tb.tb_next
    return Site(user, library)
