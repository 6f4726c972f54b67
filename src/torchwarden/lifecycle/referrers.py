"""Who holds a tensor: a readable path from a root to it, such as ``global history[3]``.

The walk goes backwards with ``gc.get_referrers`` one level at a time for all targets
together (one heap scan a level), until each target meets a root: a module's globals,
a frame that is running now, or an object nothing else refers to. The result is
phrased the way the user wrote the code: ``self.cache['x']``, ``closure of f``,
``default argument of log``, ``frame of generator g``, ``IPython Out[7]``.
"""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Iterable
from typing import Any

from torchwarden.frames import classify
from torchwarden.lifecycle.arrays import array_base, arrays
from torchwarden.lifecycle.holder import CO_OPTIMIZED, RUNNING, UNREACHABLE, Holder, frame_locals
from torchwarden.lifecycle.render import render_chain

__all__ = ["find_holders"]

MAX_DEPTH = 12
_MACHINERY = ("torch", "torchwarden", "plumbing")  # frames that hold nothing of the user's


def _machinery(filename: str) -> bool:
    return classify(filename) in _MACHINERY


def _running_frames() -> list[types.FrameType]:
    """Frames of user code running now, on every thread; torchwarden's own are left out.

    The dict from ``sys._current_frames()`` holds this very frame: it is emptied before
    returning, or the cycle frame -> local -> dict -> frame would keep every frame of
    the call chain (and their locals, tensors included) alive until a full collection.
    """
    frames: list[types.FrameType] = []
    current = sys._current_frames()
    top: types.FrameType | None = None
    try:
        for top in current.values():
            f: types.FrameType | None = top
            while f is not None:
                if not _machinery(f.f_code.co_filename):
                    frames.append(f)
                f = f.f_back
    finally:
        current.clear()
        top = f = None
    return frames


def _module_dicts() -> dict[int, str]:
    out: dict[int, str] = {}
    for name, m in list(sys.modules.items()):
        # multiprocessing aliases the script as __mp_main__: keep the name users know
        if isinstance(m, types.ModuleType) and out.get(id(vars(m))) != "__main__":
            out[id(vars(m))] = name
    return out


def _ipython_ns() -> dict[str, Any] | None:
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    ns = getattr(shell, "user_ns", None)
    return ns if isinstance(ns, dict) else None


class _Walker:
    def __init__(self, targets: list[Any], exclude: Iterable[Any], enclosing: Any | None) -> None:
        self.targets = targets
        self.target_ids = {id(t) for t in targets}
        # Direct bindings in `enclosing` (a frame, or RUNNING for every running frame) are
        # the block's results: `loss = ...` in the loop that is still running.
        self.enclosing = enclosing
        self.enclosing_ns: Any = None
        if isinstance(enclosing, types.FrameType) and enclosing.f_code.co_name == "<module>":
            self.enclosing_ns = enclosing.f_globals
        self.modules = _module_dicts()
        frames = _running_frames()
        self.running = {id(f) for f in frames}
        # globals of a script that is running (runpy, exec) even when not in sys.modules
        self.running_globals = {id(f.f_globals) for f in frames if f.f_code.co_name == "<module>"}
        for f in frames:
            if f.f_code.co_name == "<module>" and id(f.f_globals) not in self.modules:
                self.modules[id(f.f_globals)] = str(f.f_globals.get("__name__", "?"))
        # The garbage collector cannot see the locals of a running function (they belong
        # to the interpreter, not to a heap object), so they are added as edges here.
        self.frame_edges: dict[int, list[types.FrameType]] = {}
        for f in frames:
            if not f.f_code.co_flags & CO_OPTIMIZED:
                continue
            for value in frame_locals(f).values():
                self.frame_edges.setdefault(id(value), []).append(f)
        frames.clear()
        self.ipython = _ipython_ns()
        self.refs: dict[int, list[Any]] = {}  # object id -> objects that refer to it
        self.objects: dict[int, Any] = {}
        self.bindings: set[int] = set()  # targets bound directly by a name in `enclosing`
        # Our own containers refer to the targets too: they are not holders.
        self.own = {id(x) for x in exclude}
        self.own.update(
            id(x) for x in (targets, self.refs, self.objects, self.__dict__, self.frame_edges)
        )
        self.own.update(id(v) for v in self.frame_edges.values())

    def is_root(self, obj: Any) -> bool:
        if isinstance(obj, dict) and (id(obj) in self.modules or id(obj) in self.running_globals):
            return True
        return isinstance(obj, types.FrameType) and id(obj) in self.running

    def _skip(self, obj: Any) -> bool:
        if id(obj) in self.own:
            return True
        if type(obj).__module__.startswith("IPython."):
            return True  # the shell's machinery; its user namespace (Out, _) is what users see
        return isinstance(obj, types.FrameType) and _machinery(obj.f_code.co_filename)

    def _is_enclosing(self, obj: Any) -> bool:
        if self.enclosing is RUNNING:
            if isinstance(obj, types.FrameType):
                return id(obj) in self.running
            return isinstance(obj, dict) and id(obj) in self.running_globals
        return obj is self.enclosing or (self.enclosing_ns is not None and obj is self.enclosing_ns)

    def _level(self, frontier: list[Any]) -> list[Any]:
        by_id = {id(o): o for o in frontier}
        self.own.update((id(frontier), id(by_id)))
        found = gc.get_referrers(*frontier)
        self.own.add(id(found))
        next_frontier: list[Any] = []
        self.own.add(id(next_frontier))
        edges = [(ref, [c for c in gc.get_referents(ref) if id(c) in by_id]) for ref in found]
        for obj in frontier:
            edges.extend((f, [obj]) for f in self.frame_edges.get(id(obj), ()))
            array = arrays.array_of(obj)  # gc does not track numpy arrays: the edge is added
            if array is not None:
                edges.append((array, [obj]))
        self.own.add(id(edges))
        for ref, children in edges:
            if self._skip(ref):
                continue
            if self._is_enclosing(ref):
                bound = {id(c): _tensor_of(c) for c in children}
                self.bindings.update(i for i in map(id, bound.values()) if i in self.target_ids)
                children = [c for c in children if id(bound[id(c)]) not in self.target_ids]
            for child in children:
                lst = self.refs.get(id(child))
                if lst is None:
                    lst = self.refs[id(child)] = []
                    self.own.add(id(lst))
                lst.append(ref)
            if children and id(ref) not in self.objects:
                self.objects[id(ref)] = ref
                if not self.is_root(ref):
                    next_frontier.append(ref)
        return next_frontier

    def walk(self) -> dict[int, list[Any]]:
        """target id -> [root, ..., target], for targets that reached a root."""
        done: dict[int, list[Any]] = {}
        frontier = list(self.targets)
        for _ in range(MAX_DEPTH):
            if not frontier or len(done) == len(self.targets):
                break
            frontier = self._level(frontier)
            for t in self.targets:
                if id(t) not in done:
                    chain = self.shortest_chain(t)
                    if chain is not None:
                        done[id(t)] = chain
        return done

    def shortest_chain(self, target: Any) -> list[Any] | None:
        """Breadth-first from the target up the referrer edges to the nearest root."""
        prev: dict[int, Any] = {id(target): None}
        queue = [target]
        self.own.update((id(prev), id(queue)))
        for node in queue:
            for ref in self.refs.get(id(node), ()):
                if id(ref) in prev:
                    continue
                prev[id(ref)] = node
                if self.is_root(ref):
                    path = [ref]
                    cur: Any = node
                    while cur is not None:
                        path.append(cur)
                        cur = prev[id(cur)]
                    return path
                queue.append(ref)
        return None


def find_holders(
    targets: list[Any], *, exclude: Iterable[Any] = (), enclosing: Any | None = None
) -> dict[int, Holder]:
    """Map ``id(target)`` to its :class:`Holder`; targets with no path get ``unknown``."""
    walker = _Walker(targets, exclude, enclosing)
    chains = walker.walk()
    out: dict[int, Holder] = {}
    for t in targets:
        chain = chains.get(id(t))
        if chain is not None:
            out[id(t)] = render_chain(chain, walker.modules, walker.running, walker.ipython)
        elif id(t) in walker.bindings:
            out[id(t)] = _binding_holder(enclosing, t)
        else:
            out[id(t)] = Holder(UNREACHABLE, "unknown")
    return out


def _tensor_of(obj: Any) -> Any:
    """A numpy array stands for the tensor it keeps: naming the array names the tensor."""
    base = array_base(obj)
    return obj if base is None else base


def _binding_holder(enclosing: Any, target: Any) -> Holder:
    frames = [enclosing] if isinstance(enclosing, types.FrameType) else _running_frames()
    try:
        for frame in frames:
            ns = frame.f_globals if frame.f_code.co_name == "<module>" else frame_locals(frame)
            for name, value in ns.items():
                if value is target or array_base(value) is target:
                    where = "global" if frame.f_code.co_name == "<module>" else "local"
                    return Holder(f"{where} {name}", where, frame_binding=str(name))
    finally:
        frames.clear()
    return Holder("local ?", "local", frame_binding="?")
