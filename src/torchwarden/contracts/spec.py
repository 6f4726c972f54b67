"""What one tensor must look like: a dtype set and a list of dimensions.

The plain string syntax, for code without jaxtyping::

    "float32[batch seq dim]"      dtype, then the dimensions in brackets
    "float[*batch 3]"             a dtype family (bool, int, uint, integer, float,
                                  complex, inexact, real, num) or a torch dtype name
    "float16|bfloat16[b n]"       several dtypes, any one of them
    "[b n]" / "any[b n]"          any dtype
    "int64"                       any shape

Dimension tokens are jaxtyping's: ``name`` binds a size that every later use must
match, ``3`` or ``rgb=3`` is fixed, ``*name`` binds zero or more dimensions,
``...`` matches zero or more unnamed ones, ``_`` (or ``_name``) matches any one,
``#name`` also accepts 1 (broadcasting), and an expression such as ``seq*2`` or
``n-1`` is computed from sizes bound before it. jaxtyping annotations are read into
the same :class:`TensorSpec` (see ``annotations.py``), so both say the same thing.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Literal

import torch

from torchwarden.contracts.expressions import names_in
from torchwarden.errors import ContractSpecError

__all__ = ["DTYPE_FAMILIES", "Dim", "TensorSpec", "parse_dims", "parse_spec"]

DimKind = Literal["named", "fixed", "expr", "any", "variadic", "any_variadic"]

# Sub-byte and float8 names included, as jaxtyping's families include them.
_FLOAT8 = ("e4m3fn", "e4m3fnuz", "e5m2", "e5m2fnuz", "e8m0fnu", "e4m3b11fnuz")
_FLOATS = (
    "float4_e2m1fn",
    "float4_e2m1fn_x2",
    *(f"float8_{s}" for s in _FLOAT8),
    "float16",
    "bfloat16",
    "float32",
    "float64",
)
_INTS = ("int2", "int4", "int8", "int16", "int32", "int64")
_UINTS = ("uint2", "uint4", "uint8", "uint16", "uint32", "uint64")
_COMPLEX = ("complex32", "complex64", "complex128")
# Family names follow jaxtyping's (Float, Int, ...), lower-cased.
DTYPE_FAMILIES: dict[str, frozenset[str]] = {
    "bool": frozenset({"bool"}),
    "int": frozenset(_INTS),
    "uint": frozenset(_UINTS),
    "integer": frozenset(_INTS + _UINTS),
    "float": frozenset(_FLOATS),
    "complex": frozenset(_COMPLEX),
    "inexact": frozenset(_FLOATS + _COMPLEX),
    "real": frozenset(_FLOATS + _INTS + _UINTS),
    "num": frozenset(_FLOATS + _INTS + _UINTS + _COMPLEX),
}
_SPEC = re.compile(r"^\s*(?P<dtype>[A-Za-z0-9_|\s]*?)\s*(?:\[(?P<dims>[^\]]*)\])?\s*$")


@dataclass(frozen=True)
class Dim:
    """One dimension of a spec; ``label`` is the name, the expression or the token."""

    kind: DimKind
    label: str
    size: int | None = None
    broadcast: bool = False


@dataclass(frozen=True)
class TensorSpec:
    """A tensor's contract. ``dtypes`` None: any dtype; ``dims`` None: any shape."""

    dtypes: frozenset[str] | None
    dims: tuple[Dim, ...] | None
    text: str
    dtype_text: str = ""
    # Derived once here, read on every call: a set membership test of torch.dtype
    # objects costs less than naming the tensor's dtype.
    variadic_index: int | None = field(init=False, compare=False, default=None)
    torch_dtypes: frozenset[torch.dtype] | None = field(init=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.dtypes is not None:
            found = (getattr(torch, name, None) for name in self.dtypes)
            wanted = frozenset(d for d in found if isinstance(d, torch.dtype))
            object.__setattr__(self, "torch_dtypes", wanted)
        for i, d in enumerate(self.dims or ()):
            if d.kind in ("variadic", "any_variadic"):
                object.__setattr__(self, "variadic_index", i)
                break


def _dim(token: str) -> Dim:
    """One whitespace-separated token of a dimension list."""
    if token == "...":
        return Dim("any_variadic", token)
    body, broadcast, variadic = token, False, False
    while body[:1] in ("#", "*", "?"):
        broadcast |= body[0] == "#"
        variadic |= body[0] == "*"
        body = body[1:]  # "?" (jaxtyping's tree-path marker) means nothing here
    label, _, value = body.partition("=")
    if value:
        body = value
    if body.isdigit():
        return Dim("fixed", label if value else body, int(body), broadcast)
    if body == "" or (body.startswith("_") and (body[1:] == "" or body[1:].isidentifier())):
        return Dim("any_variadic" if variadic else "any", token)
    if body.isidentifier():
        return Dim("variadic" if variadic else "named", body, None, broadcast)
    if variadic:
        raise ContractSpecError(f"{token!r}: an expression cannot match several dimensions")
    names_in(body)  # fails now, at decoration, on a malformed expression
    return Dim("expr", body, None, broadcast)


@functools.lru_cache(maxsize=1024)
def parse_dims(text: str) -> tuple[Dim, ...]:
    """The dimensions of a whitespace-separated list, jaxtyping's tokens."""
    if "," in text and "(" not in text:
        raise ContractSpecError(
            f"dimensions {text!r}: separate them with spaces, not commas (e.g. 'batch seq')"
        )
    dims = tuple(_dim(token) for token in text.split())
    if sum(d.kind in ("variadic", "any_variadic") for d in dims) > 1:
        raise ContractSpecError(f"dimensions {text!r}: use `*name` or `...` at most once")
    return dims


def _dtypes(text: str) -> frozenset[str] | None:
    names = [n.strip().lower() for n in text.split("|") if n.strip()]
    if not names or names == ["any"] or names == ["shaped"]:
        return None
    out: set[str] = set()
    for name in names:
        family = DTYPE_FAMILIES.get(name)
        if family is None and not _is_torch_dtype(name):
            known = ", ".join(sorted(DTYPE_FAMILIES))
            raise ContractSpecError(
                f"unknown dtype {name!r}: use a family ({known}, any) or a torch dtype name "
                "such as float32 or bfloat16"
            )
        out |= family or {name}
    return frozenset(out)


def _is_torch_dtype(name: str) -> bool:
    return isinstance(getattr(torch, name, None), torch.dtype)


@functools.lru_cache(maxsize=1024)
def parse_spec(text: str) -> TensorSpec:
    """Read the plain string syntax (module docstring) into a :class:`TensorSpec`."""
    match = _SPEC.match(text)
    if match is None:
        raise ContractSpecError(
            f"cannot read the contract {text!r}: write `dtype[dims]`, e.g. 'float32[batch seq dim]'"
        )
    dims_text = match.group("dims")
    dims = None if dims_text is None else parse_dims(dims_text)
    dtype_text = match.group("dtype").strip()
    return TensorSpec(_dtypes(dtype_text), dims, text.strip(), dtype_text or "any")
