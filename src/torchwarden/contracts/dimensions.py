"""Shapes within one call: each dimension against its spec and the sizes bound so far.

Mixed into :class:`~torchwarden.contracts.checker.Call`. A name is bound by the first
tensor that shows it; ``*name`` binds a tuple of sizes (kept as ``*name``); an
expression is computed from names bound before it. Sizes are put into text only when
a check fails: formatting a size while ``torch.compile`` traces would specialise it.

Shape legend: ``shape`` a ``torch.Size``; ``Dim`` one token of a spec.
"""

from __future__ import annotations

from typing import Any, NoReturn

import torch

from torchwarden.contracts.expressions import evaluate, names_in
from torchwarden.contracts.messages import Bindings, raise_violation
from torchwarden.contracts.spec import Dim, TensorSpec
from torchwarden.errors import ContractSpecError, ShapeContractError

__all__ = ["DimensionChecks", "dtype_name", "shape_text"]


def dtype_name(dtype: torch.dtype) -> str:
    """``float32`` for ``torch.float32``: the names jaxtyping and the string specs use."""
    return str(dtype)[6:]


def shape_text(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(n) for n in t.shape) + ")"


class DimensionChecks:
    """The shape half of a checked call."""

    where: str
    bindings: Bindings

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

    def _shape_error(self, spec: TensorSpec, t: torch.Tensor, path: str, why: str) -> NoReturn:
        raise_violation(
            ShapeContractError,
            where=self.where,
            path=path,
            problem="has the wrong shape",
            expected=spec.text,
            got=f"{dtype_name(t.dtype)} {shape_text(t)}",
            why=why,
            bindings=self.bindings,
            fix=f"check how `{path}` was built; within one call each named dimension has one size",
            value=t,
        )
