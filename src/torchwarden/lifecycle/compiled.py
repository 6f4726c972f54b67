"""Keep the creation recorder out of code compiled with ``torch.compile``.

Dynamo guards each compiled frame on the torch-function mode stack: a mode pushed after
compilation makes every later call miss its cache and recompile, with the mode traced
into the graph. Every entry into compiled code passes through one function of
``torch._dynamo.eval_frame`` (``_maybe_set_eval_frame``, called by ``compile_wrapper``
with a callback on entry and the prior one on exit). While a recording is open, that function is wrapped: entering
compiled code takes this thread's recording modes off the stack, and leaving puts
them back, so compiled frames always see the stack they were compiled with.

This reads two private names of torch; when it is missing, nothing is wrapped and a
compiled call made during an exact scope may recompile once (never crash).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import torch

from torchwarden.frames import Site, site_of, user_frame

__all__ = ["CompiledGate"]

_EVAL_FRAME_MODULE = "torch._dynamo.eval_frame"
_HOOK = "_maybe_set_eval_frame"
_ENTRY = "compile_wrapper"  # the function torch.compile wraps every compiled callable in


class CompiledGate:
    """Pauses ``is_ours`` modes on this thread while compiled code runs.

    ``site`` is the user's line of the latest compiled call on this thread: tensors
    that compiled code returns are attributed to it.
    """

    def __init__(self, is_ours: Callable[[Any], bool]) -> None:
        self._is_ours = is_ours
        self._local = threading.local()
        self._original: Any = None

    @property
    def site(self) -> Site | None:
        return getattr(self._local, "site", None)

    def install(self) -> None:
        """Wrap Dynamo's entry point (only when Dynamo is loaded: nothing compiles before)."""
        module = sys.modules.get(_EVAL_FRAME_MODULE)
        original = getattr(module, _HOOK, None)
        if module is None or original is None or self._original is not None:
            return
        self._original = original

        def gated(callback: Any) -> Any:
            # Only the entry wrapper of compiled code counts; `torch._dynamo.disable`
            # regions inside it call this too, and the graph runs in one of those.
            if sys._getframe(1).f_code.co_name == _ENTRY:
                self._enter() if callback else self._leave()
            return original(callback)

        setattr(module, _HOOK, gated)

    def remove(self) -> None:
        module = sys.modules.get(_EVAL_FRAME_MODULE)
        if module is not None and self._original is not None:
            setattr(module, _HOOK, self._original)
        self._original = None

    def _enter(self) -> None:
        if getattr(self._local, "paused", None):
            return  # a compiled call inside compiled code: already off the stack
        paused: list[Any] = []
        while torch._C._len_torch_function_stack() and self._is_ours(_top()):
            paused.append(torch._C._pop_torch_function_stack())
        self._local.paused = paused
        if paused:
            self._local.site = site_of(user_frame(sys._getframe(2)))

    def _leave(self) -> None:
        paused = getattr(self._local, "paused", None)
        self._local.paused = None
        for mode in reversed(paused or ()):
            torch._C._push_on_torch_function_stack(mode)


def _top() -> Any:
    return torch._C._get_function_stack_at(torch._C._len_torch_function_stack() - 1)
