"""Checking one call: each value against its contract tree, dimensions bound across them.

A :class:`Call` lives for one checked call. Named dimensions are bound by the first
tensor that shows them (in argument order, then the output) and every later use must
agree. Every tensor, constrained or not, must sit on the call's device, and with
``finite`` hold no NaN or infinity. Only metadata is read (shape, dtype, device), so
``torch.compile`` traces a check into guards it already has; the finiteness test reads
data and is skipped while compiling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import torch

from torchwarden.contracts.dimensions import DimensionChecks, dtype_name, shape_text
from torchwarden.contracts.messages import Bindings, raise_violation
from torchwarden.contracts.spec import TensorSpec
from torchwarden.contracts.structure import children
from torchwarden.contracts.tree import (
    MappingSpec,
    Node,
    OptionalSpec,
    RecordSpec,
    SequenceSpec,
    describe,
)
from torchwarden.errors import DeviceContractError, DtypeContractError, NonFiniteError

__all__ = ["Call"]

_MAX_DEPTH = 6


def _allowed(spec: TensorSpec) -> str:
    dtypes = sorted(spec.dtypes or (), key=lambda name: (len(name), name))  # int8 before int16
    listed = ", ".join(dtypes[:4]) + (", ..." if len(dtypes) > 4 else "")
    return f"one of {spec.dtype_text}: {listed}"


def _suggest(dtypes: frozenset[str]) -> str:
    for preferred in ("float32", "int64", "bool", "complex64"):
        if preferred in dtypes:
            return preferred
    return min(dtypes, default="float32")


@dataclass
class Call(DimensionChecks):
    """One checked call: its name, the device its tensors must share, the bindings."""

    where: str
    device: torch.device | None = None
    device_from: str = ""
    check_device: bool = True
    finite: bool = False
    bindings: Bindings = field(default_factory=dict)

    def visit(self, node: Node, value: Any, path: str, depth: int = 0) -> None:
        """Check ``value`` (at ``path``) against ``node`` and its tensors' device."""
        if isinstance(value, torch.Tensor):
            self._tensor(node, value, path)
        elif node is None or isinstance(node, OptionalSpec):
            if value is not None and depth < _MAX_DEPTH:
                inner = node.inner if isinstance(node, OptionalSpec) else None
                self._structure(inner, value, path, depth)
        else:
            self._structure(node, value, path, depth)

    def _structure(self, node: Node, value: Any, path: str, depth: int) -> None:
        if node is None:  # not constrained: walk it for the device and finiteness checks
            for suffix, child in children(value):
                self.visit(None, child, path + suffix, depth + 1)
        elif isinstance(node, RecordSpec):
            if not isinstance(value, node.cls):
                self._wrong_type(node, value, path)
            for name, sub in node.fields:
                self.visit(sub, getattr(value, name), f"{path}.{name}", depth + 1)
        elif isinstance(node, MappingSpec):
            if not isinstance(value, Mapping):
                self._wrong_type(node, value, path)
            for suffix, child in children(value):
                self.visit(node.value, child, path + suffix, depth + 1)
        elif isinstance(node, SequenceSpec) and isinstance(value, (tuple, list)):
            if node.items is not None and len(value) != len(node.items):
                self._wrong_type(node, value, path)
            for i, (suffix, child) in enumerate(children(value)):
                sub = node.items[i] if node.items is not None else node.each
                self.visit(sub, child, path + suffix, depth + 1)
        else:  # a tensor spec met a non-tensor, or a sequence spec a non-sequence
            self._wrong_type(node, value, path)

    def _wrong_type(self, node: Node, value: Any, path: str) -> NoReturn:
        got = type(value).__name__
        if isinstance(value, (tuple, list)):
            got += f" of {len(value)}"
        raise_violation(
            DtypeContractError,
            where=self.where,
            path=path,
            problem="is not what the contract describes",
            expected=describe(node),
            got=got,
            why="",
            bindings=self.bindings,
            fix=f"return or pass {describe(node)} at `{path}`, or change the annotation",
        )

    # -- one tensor ----------------------------------------------------------------
    def _tensor(self, node: Node, t: torch.Tensor, path: str) -> None:
        # The passing path is inlined: it runs for every tensor of every checked call.
        if self.check_device:
            device = t.device
            if self.device is None:
                self.device, self.device_from = device, f"`{path}`"
            elif device != self.device and not (t.dim() == 0 and device.type == "cpu"):
                self._device(t, path)  # torch itself accepts CPU scalars beside any device
        if isinstance(node, OptionalSpec):
            node = node.inner
        if isinstance(node, TensorSpec):
            if node.torch_dtypes is not None and t.dtype not in node.torch_dtypes:
                self._dtype(node, t, path)
            if node.dims is not None:
                self._dims(node, t, path)
        elif node is not None:
            self._wrong_type(node, t, path)
        if self.finite and not torch.compiler.is_compiling():
            self._finite(t, path)

    def _device(self, t: torch.Tensor, path: str) -> NoReturn:
        raise_violation(
            DeviceContractError,
            where=self.where,
            path=path,
            problem=f"is on {t.device}, not on {self.device}",
            expected=f"device {self.device} (from {self.device_from})",
            got=f"device {t.device}, shape {shape_text(t)}",
            why="",
            bindings=self.bindings,
            fix=f"move it before the call: `{path.split('.')[0].split('[')[0]}.to('{self.device}')`",
            value=t,
        )

    def _dtype(self, spec: TensorSpec, t: torch.Tensor, path: str) -> NoReturn:
        raise_violation(
            DtypeContractError,
            where=self.where,
            path=path,
            problem=f"has dtype {dtype_name(t.dtype)}",
            expected=spec.text,
            got=f"{dtype_name(t.dtype)} {shape_text(t)}",
            why=f"{dtype_name(t.dtype)} is not {_allowed(spec)}",
            bindings=self.bindings,
            fix=f"cast it (`.to(torch.{_suggest(spec.dtypes or frozenset())})`) or widen the contract's dtype",
            value=t,
        )

    def _finite(self, t: torch.Tensor, path: str) -> None:
        if not (t.is_floating_point() or t.is_complex()) or bool(torch.isfinite(t).all()):
            return
        nan, inf = int(torch.isnan(t).sum()), int(torch.isinf(t).sum())
        raise_violation(
            NonFiniteError,
            where=self.where,
            path=path,
            problem="holds values that are not finite",
            expected="finite values (finite=True)",
            got=f"{nan} NaN and {inf} inf among {t.numel()} values",
            why="",
            bindings=self.bindings,
            fix="find the op that made them with torch.autograd.detect_anomaly(), "
            "or check the inputs' scale",
            value=t,
        )
