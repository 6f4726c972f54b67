"""The decorator and the module wrapper that check a boundary's inputs and output.

``@contract`` reads the function's annotations once (at decoration, or at the first
call if they name a class defined later) into one contract tree per argument and one
for the return value; strings given to the decorator
override annotations (``@contract(x="float[batch dim]")``). Each call then costs one
flag read when checks are off, and a walk over the passed and returned tensors' shape,
dtype and device when on. A method of an ``nn.Module`` (``forward``) checks devices
against the module's first parameter or buffer: a CPU tensor into a CUDA model is
named before any kernel runs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

import torch

from torchwarden.contracts.annotations import allows_none, hints_of, node_of
from torchwarden.contracts.checker import Call
from torchwarden.contracts.switch import state
from torchwarden.contracts.tree import Node, OptionalSpec
from torchwarden.errors import ContractSpecError

__all__ = ["Contract", "checked", "contract"]

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=torch.nn.Module)
DeviceOption = bool | str | torch.device


@dataclass(frozen=True)
class _Param:
    name: str
    position: int | None  # None: keyword-only
    node: Node


class Contract:
    """The contract of one function: a tree per argument, one for the output."""

    def __init__(
        self,
        fn: Callable[..., Any],
        specs: dict[str, Any],
        *,
        device: DeviceOption = True,
        finite: bool = False,
        where: str | None = None,
    ) -> None:
        # `outer.<locals>.Model.forward` reads as `Model.forward`
        self.where = where or getattr(fn, "__qualname__", repr(fn)).rsplit("<locals>.", 1)[-1]
        params = list(inspect.signature(fn).parameters.values())
        unknown = set(specs) - {p.name for p in params} - {"returns"}
        if unknown:
            raise ContractSpecError(
                f"{self.where}: the contract names {sorted(unknown)}, which are not its "
                f"parameters ({', '.join(p.name for p in params)}); use `returns=` for the output"
            )
        self.is_method = bool(params) and params[0].name == "self"
        self.fixed_device = None if isinstance(device, bool) else torch.device(device)
        self.check_device, self.finite = device is not False, finite
        self.params: tuple[_Param, ...] = ()
        self.output: Node = None
        # Annotations may name a class defined later in the module (an output class
        # below the model): then they are read at the first call instead.
        self._unread: tuple[Callable[..., Any], dict[str, Any]] | None = (fn, specs)
        try:
            self._read()
        except ContractSpecError as e:
            if not isinstance(e.__context__, NameError):
                raise

    def _read(self) -> None:
        assert self._unread is not None
        fn, specs = self._unread
        hints = hints_of(fn)
        params = inspect.signature(fn).parameters.values()
        self.params = tuple(self._param(p, i, specs, hints) for i, p in enumerate(params))
        self.output = node_of(specs["returns"] if "returns" in specs else hints.get("return"))
        self._unread = None

    @staticmethod
    def _param(
        p: inspect.Parameter, i: int, specs: dict[str, Any], hints: dict[str, Any]
    ) -> _Param:
        node = node_of(specs[p.name] if p.name in specs else hints.get(p.name))
        if p.name in specs and node is not None and allows_none(hints.get(p.name)):
            node = OptionalSpec(node)  # a string for `bias: Tensor | None` keeps the None
        positional = p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        return _Param(p.name, i if positional else None, node)

    def begin(self, args: tuple[Any, ...]) -> Call:
        """A new call: its device is the module's (for methods) or a fixed one."""
        if self._unread is not None:
            self._read()
        device, source = self.fixed_device, "the contract"
        if device is None and self.is_method and args and isinstance(args[0], torch.nn.Module):
            device, source = _module_device(args[0]), f"{type(args[0]).__name__}'s parameters"
        return Call(self.where, device, source, self.check_device, self.finite)

    def check_inputs(self, call: Call, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        for p in self.params:
            if p.position is not None and p.position < len(args):
                value = args[p.position]
            elif p.name in kwargs:
                value = kwargs[p.name]
            else:
                continue  # a default: the caller passed nothing to check
            if p.name != "self" or p.position != 0:
                call.visit(p.node, value, p.name)

    def check_output(self, call: Call, value: Any) -> None:
        call.visit(self.output, value, "output")


def _module_device(module: torch.nn.Module) -> torch.device | None:
    """The device of the first parameter (or buffer) depth-first: a few dict reads,
    where ``next(module.parameters())`` builds generators and a memo set."""
    for tensors in (module._parameters, module._buffers):
        for t in tensors.values():
            if t is not None:
                return t.device
    for child in module._modules.values():
        if child is not None:
            found = _module_device(child)
            if found is not None:
                return found
    return None


def _wrap(fn: Callable[..., Any], c: Contract) -> Callable[..., Any]:
    @functools.wraps(fn)
    def checked_call(*args: Any, **kwargs: Any) -> Any:
        if not state.on or (state.skip_compiled and torch.compiler.is_compiling()):
            return fn(*args, **kwargs)
        call = c.begin(args)
        c.check_inputs(call, args, kwargs)
        out = fn(*args, **kwargs)
        c.check_output(call, out)
        return out

    checked_call.__torchwarden_contract__ = c  # type: ignore[attr-defined]
    return checked_call


@overload
def contract(fn: F, /) -> F: ...
@overload
def contract(
    *, device: DeviceOption = True, finite: bool = False, returns: Any = None, **specs: Any
) -> Callable[[F], F]: ...
def contract(
    fn: Any = None, /, *, device: DeviceOption = True, finite: bool = False, **specs: Any
) -> Any:
    """Check a function's (or ``forward``'s) inputs and output against its contract.

    The contract comes from the annotations (jaxtyping's ``Float[Tensor, "b n"]``,
    ``torch.Tensor``, NamedTuples and dataclasses of them, ``tuple``, ``dict``,
    ``Optional``) and from strings given here (``x="float[b n]"``, ``returns=...``),
    which win. ``device``: True (all tensors on the module's device, or on the first
    tensor's), False (not checked), or a device. ``finite``: also reject NaN and inf.
    """

    def decorate(f: F) -> F:
        return _wrap(f, Contract(f, specs, device=device, finite=finite))  # type: ignore[return-value]

    return decorate if fn is None else decorate(fn)


def checked(module: M, *, device: DeviceOption = True, finite: bool = False, **specs: Any) -> M:
    """Check ``module``'s ``forward`` (this instance only) and return the module.

    Its state dict, parameters and class stay as they were; the contract comes from
    ``type(module).forward``'s annotations and the strings given here.
    """
    forward = type(module).forward
    where = f"{type(module).__name__}.forward"
    c = Contract(forward, specs, device=device, finite=finite, where=where)
    # A bound method on the instance: deepcopy re-binds it to the copy.
    module.forward = _wrap(forward, c).__get__(module)  # type: ignore[method-assign]
    return module
