"""Phrase a referrer chain ``[root, ..., tensor]`` the way the user wrote the code."""

from __future__ import annotations

import collections
import re
import threading
import types
import weakref
from typing import Any

import torch

from torchwarden.lifecycle.arrays import ARRAY_NOTE, array_base
from torchwarden.lifecycle.holder import Holder, frame_locals

__all__ = ["render_chain"]

_MODULE_SLOTS = ("_parameters", "_buffers", "_modules")
_STATE_SLOTS = ("_parameters", "_buffers")
_IPY_CACHE = re.compile(r"^_+\d*$")
_TORCH_PACKAGES = ("torch", "torchwarden")
_LOCAL = threading.local


def _func_name(code: types.CodeType) -> str:
    return getattr(code, "co_qualname", code.co_name)


def _key_text(key: Any, as_attr: bool) -> str:
    if as_attr and isinstance(key, str) and key.isidentifier():
        return f".{key}"
    if isinstance(key, torch.Tensor):  # optimizer.state is keyed by parameters
        return f"[<{type(key).__name__} {'x'.join(map(str, key.shape))}>]"
    text = repr(key)
    return f"[{text if len(text) <= 40 else text[:37] + '...'}]"


def _frame_local(frame: types.FrameType, child: Any) -> str:
    for name, value in frame_locals(frame).items():
        if value is child:
            return str(name)
    return "?"


def _dict_key(d: dict[Any, Any], child: Any) -> Any:
    for k, v in d.items():
        if v is child:
            return k
    return "?"


def _attr_name(obj: Any, child: Any) -> str:
    try:  # attributes stored inline (no __dict__ object) still show in vars()
        for name, value in vars(obj).items():
            if value is child:
                return str(name)
    except TypeError:
        pass
    for name in ("__self__", "__func__", "__traceback__", "__context__", "__cause__", "args"):
        if getattr(obj, name, None) is child:
            return name
    for name in getattr(type(obj), "__slots__", ()):
        if getattr(obj, name, None) is child:
            return str(name)
    return f"<{type(obj).__name__}>"


class _Phrase:
    """Accumulates the path text while walking from the root to the tensor.

    ``text`` is the path so far. Once the walk meets a holder with a name of its own (a
    closure, a default argument, a generator, a finished frame), ``head`` names it and
    the rest of the path collects in ``var``: "closure of f (variable cache[2])".
    """

    def __init__(self) -> None:
        self.text = ""
        self.kind = "global"
        self.head: str | None = None
        self.var = ""
        self.attr_next = False  # the next dict item is an attribute (instance or class dict)
        self.state = False
        self.pending: Any = None  # a function whose closure/defaults tuple comes next
        self.note = ""  # how the last step holds the tensor, when it is not a plain reference

    def add(self, piece: str) -> None:
        if self.head is None:
            self.text += piece
        else:
            self.var += piece

    def semantic(self, head: str, kind: str, var: str = "") -> None:
        self.head, self.kind, self.var = head, kind, var

    def result(self) -> str:
        return self._path() + (f" ({self.note})" if self.note else "")

    def _path(self) -> str:
        if self.head is None:
            return self.text
        if self.kind == "local":  # a finished frame: say what keeps the frame
            where = f" (in {self.text})" if self.text else ""
            return f"local {self.var} of {self.head}(){where}"
        return f"{self.head} ({self.var})" if self.var else self.head


def _tuple_slot(p: _Phrase, tup: tuple[Any, ...], child: Any) -> None:
    fn = p.pending
    p.pending = None
    idx = next((i for i, v in enumerate(tup) if v is child), None)
    if idx is None:
        return
    if p.kind == "closure":
        p.var = f"variable {fn.__code__.co_freevars[idx]}"
    else:  # positional defaults belong to the last parameters
        code = fn.__code__
        params = code.co_varnames[: code.co_argcount]
        p.var = params[len(params) - len(tup) + idx]


def _step(p: _Phrase, node: Any, child: Any) -> None:
    as_attr, p.attr_next = p.attr_next, False
    if p.pending is not None and isinstance(node, tuple):
        _tuple_slot(p, node, child)
    elif isinstance(node, dict):
        key = _dict_key(node, child)
        if isinstance(key, weakref.ref):
            p.attr_next = True  # threading.local: per-thread attribute dicts keyed by thread
            return
        if as_attr and key in _MODULE_SLOTS:
            p.state = p.state or key in _STATE_SLOTS
            p.attr_next = True  # module.__dict__['_parameters']['w'] reads as module.w
            return
        if p.kind == "default" and not p.var:  # keyword-only defaults
            p.var = str(key)
            return
        p.add(_key_text(key, as_attr))
    elif array_base(node) is child:
        p.note = ARRAY_NOTE  # the array's hidden base tensor: the array is what the user kept
    elif isinstance(node, _LOCAL):
        pass  # its attributes follow, in the thread's own dict
    elif isinstance(node, (list, tuple, collections.deque)):
        p.add(f"[{next((i for i, v in enumerate(node) if v is child), '?')}]")
    elif isinstance(node, (set, frozenset)):
        p.add("{…}")
    elif isinstance(node, (types.CellType, types.TracebackType)):
        pass  # phrased by the function owning the closure, or by the frame
    elif isinstance(node, types.FunctionType):
        if child is node.__closure__:
            p.semantic(f"closure of {node.__qualname__}", "closure")
            p.pending = node
        elif child is node.__defaults__ or child is node.__kwdefaults__:
            p.semantic(f"default argument of {node.__qualname__}", "default")
            p.pending = node if child is node.__defaults__ else None
        elif child is getattr(node, "__dict__", None):
            p.attr_next = True
    elif isinstance(node, types.FrameType):
        p.semantic(_func_name(node.f_code), "local", _frame_local(node, child))
    elif isinstance(node, (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)):
        frame = getattr(node, "gi_frame", None) or getattr(node, "cr_frame", None)
        name = _frame_local(frame, child) if frame is not None else "?"
        p.semantic(f"frame of generator {node.__qualname__}", "generator", f"local {name}")
    elif isinstance(node, type) and isinstance(child, dict):
        p.attr_next = True  # a class's own namespace: Cache.store
    elif child is getattr(node, "__dict__", None):
        if isinstance(node, torch.optim.Optimizer):
            p.state = True
        p.attr_next = True
    else:
        if isinstance(node, torch.optim.Optimizer):
            p.state = True
        p.add(f".{_attr_name(node, child)}")


def _root(
    p: _Phrase, root: Any, child: Any, modules: dict[int, str], ipython: dict[str, Any] | None
) -> None:
    if isinstance(root, types.FrameType):
        name = _frame_local(root, child)
        if root.f_code.co_name == "<module>":
            p.text, p.kind = f"global {name}", "global"
        else:
            p.semantic(_func_name(root.f_code), "local", name)
        return
    key = _dict_key(root, child)
    output_cache = key in ("Out", "_oh") or (isinstance(key, str) and _IPY_CACHE.match(key))
    if ipython is not None and root is ipython and output_cache:
        out = ipython.get("Out")
        n = _dict_key(out, child) if isinstance(out, dict) else "?"
        p.text = "IPython Out" if key in ("Out", "_oh") else f"IPython Out[{n}]"
        p.kind = "ipython"
        return
    module = modules.get(id(root), "?")
    if module == "__main__" or (ipython is not None and root is ipython):
        p.text, p.kind = f"global {key}", "global"
    elif module.split(".")[0] in _TORCH_PACKAGES:
        p.text, p.kind = f"{module}.{key}", "internal"  # torch's own caches (compile's, say)
    else:
        p.text, p.kind = f"{module}.{key}", "module"


def render_chain(
    chain: list[Any],
    modules: dict[int, str],
    running: set[int],
    ipython: dict[str, Any] | None,
) -> Holder:
    """Turn ``[root, ..., target]`` into a :class:`Holder` such as ``global history[3]``."""
    p = _Phrase()
    _root(p, chain[0], chain[1], modules, ipython)
    for i in range(1, len(chain) - 1):
        _step(p, chain[i], chain[i + 1])
    return Holder(p.result(), "state" if p.state else p.kind, extent=_extent(chain[1:-1]))


def _extent(path: list[Any]) -> int:
    """Entries of the containers on a path; attribute dicts (``__dict__``) do not count."""
    total = 0
    for node in path:
        if isinstance(node, (list, set, frozenset, collections.deque)) or (
            isinstance(node, dict)
            and not any(getattr(other, "__dict__", None) is node for other in path)
        ):
            total += len(node)
    return total
