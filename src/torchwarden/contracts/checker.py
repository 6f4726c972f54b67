"""Checking one call: each value against its contract tree, dimensions bound across them.

A :class:`Call` lives for one checked call. Named dimensions are bound by the first
tensor that shows them (in argument order, then the output) and every later use must
agree. Every tensor, constrained or not, must sit on the call's device, and with
``finite`` hold no NaN or infinity. Only metadata is read (shape, dtype, device), so
``torch.compile`` traces a check into guards it already has; the finiteness test reads
data and is skipped while compiling.

Shape legend: ``shape`` a tuple of ints; ``Dim`` one token of a spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from torchwarden.contracts.expressions import evaluate, names_in
from torchwarden.contracts.messages import Bindings, raise_violation
from torchwarden.contracts.spec import Dim, TensorSpec
from torchwarden.contracts.structure import children
from torchwarden.contracts.tree import MappingSpec, Node, OptionalSpec, RecordSpec, describe
from torchwarden.errors import (
    ContractSpecError,
    DeviceContractError,
    DtypeContractError,
    NonFiniteError,
    ShapeContractError,
)

__all__ = ["Call", "dtype_name"]

_MAX_DEPTH = 6


def dtype_name(dtype: torch.dtype) -> str:
    """``float32`` for ``torch.float32``: the names jaxtyping and the string specs use."""
    return str(dtype)[6:]


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(n) for n in t.shape) + ")"


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
class Call:
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
        if isinstance(node, TensorSpec) or (node is not None and value is None):
            self._wrong_type(node, value, path)
        if isinstance(node, RecordSpec):
            if not isinstance(value, node.cls):
                self._wrong_type(node, value, path)
            for name, sub in node.fields:
                self.visit(sub, getattr(value, name), f"{path}.{name}", depth + 1)
            return
        if isinstance(node, MappingSpec):
            for suffix, child in children(value):
                self.visit(node.value, child, path + suffix, depth + 1)
            return
        items = getattr(node, "items", None)
        each = getattr(node, "each", None)
        if items is not None and (not isinstance(value, (tuple, list)) or len(value) != len(items)):
            self._wrong_type(node, value, path)
        for i, (suffix, child) in enumerate(children(value)):
            self.visit(items[i] if items is not None else each, child, path + suffix, depth + 1)

    def _wrong_type(self, node: Node, value: Any, path: str) -> None:
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

    def _device(self, t: torch.Tensor, path: str) -> None:
        raise_violation(
            DeviceContractError,
            where=self.where,
            path=path,
            problem=f"is on {t.device}, not on {self.device}",
            expected=f"device {self.device} (from {self.device_from})",
            got=f"device {t.device}, shape {_shape(t)}",
            why="",
            bindings=self.bindings,
            fix=f"move it before the call: `{path.split('.')[0].split('[')[0]}.to('{self.device}')`",
            value=t,
        )

    def _dtype(self, spec: TensorSpec, t: torch.Tensor, path: str) -> None:
        raise_violation(
            DtypeContractError,
            where=self.where,
            path=path,
            problem=f"has dtype {dtype_name(t.dtype)}",
            expected=spec.text,
            got=f"{dtype_name(t.dtype)} {_shape(t)}",
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

    # -- dimensions ------------------------------------------------------------------
    def _dims(self, spec: TensorSpec, t: torch.Tensor, path: str) -> None:
        dims, shape, vi = spec.dims or (), t.shape, spec.variadic_index
        wanted = len(dims) if vi is None else len(dims) - 1
        if len(shape) != wanted and (vi is None or len(shape) < wanted):
            at_least = "" if vi is None else "at least "
            self._shape_error(
                spec, t, path, f"{len(shape)} dimensions where {at_least}{wanted} were expected"
            )
        if vi is None:
            bindings = self.bindings
            for i, (dim, size) in enumerate(zip(dims, shape)):
                # the common case inline: a plain name seen before or bound now
                if dim.kind == "named" and not dim.broadcast:
                    bound = bindings.get(dim.label)
                    if bound is None:
                        bindings[dim.label] = (size, path)
                        continue
                    if bound[0] == size:
                        continue
                self._dim(spec, t, path, i, dim, size)
            return
        extra = len(shape) - wanted
        for i in range(vi):
            self._dim(spec, t, path, i, dims[i], shape[i])
        self._variadic(spec, t, path, dims[vi], tuple(shape[vi : vi + extra]))
        for j, dim in enumerate(dims[vi + 1 :]):
            i = vi + extra + j
            self._dim(spec, t, path, i, dim, shape[i])

    def _dim(
        self, spec: TensorSpec, t: torch.Tensor, path: str, i: int, dim: Dim, size: int
    ) -> None:
        if dim.kind == "any" or (dim.broadcast and size == 1):
            return
        if dim.kind == "fixed":
            if size != dim.size:
                self._shape_error(
                    spec, t, path, f"dimension {i} ({dim.label}) is {size}, not {dim.size}"
                )
            return
        if dim.kind == "expr":
            expected = self._expression(dim.label, path)
            if size != expected:
                self._shape_error(
                    spec, t, path, f"dimension {i} is {size}, but {dim.label} = {expected}"
                )
            return
        self._bind(spec, t, path, dim.label, size, i)

    def _variadic(
        self, spec: TensorSpec, t: torch.Tensor, path: str, dim: Dim, sizes: tuple[int, ...]
    ) -> None:
        if dim.kind == "variadic":
            self._bind(spec, t, path, "*" + dim.label, sizes, None)

    def _bind(
        self, spec: TensorSpec, t: torch.Tensor, path: str, name: str, size: Any, i: int | None
    ) -> None:
        bound = self.bindings.get(name)
        if bound is None:
            self.bindings[name] = (size, path)
        elif bound[0] != size:
            # The text is built only here: formatting a size while compiling would
            # specialise it (and recompile for every new size).
            what = (
                f"dimensions {name} are {size}"
                if i is None
                else f"dimension {i} ({name}) is {size}"
            )
            self._shape_error(spec, t, path, f"{what}, but {name}={bound[0]} (from {bound[1]})")

    def _expression(self, text: str, path: str) -> int:
        missing = sorted(names_in(text) - self.bindings.keys())
        if missing:
            raise ContractSpecError(
                f"{self.where}: `{path}`: the dimension expression {text!r} uses "
                f"{', '.join(missing)}, which no earlier argument binds. Name those "
                "dimensions in an argument's contract (expressions suit outputs)."
            )
        return evaluate(text, {k: v[0] for k, v in self.bindings.items() if not k.startswith("*")})

    def _shape_error(self, spec: TensorSpec, t: torch.Tensor, path: str, why: str) -> None:
        raise_violation(
            ShapeContractError,
            where=self.where,
            path=path,
            problem="has the wrong shape",
            expected=spec.text,
            got=f"{dtype_name(t.dtype)} {_shape(t)}",
            why=why,
            bindings=self.bindings,
            fix=f"check how `{path}` was built; within one call each named dimension has one size",
            value=t,
        )
