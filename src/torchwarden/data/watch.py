"""Which torch calls copy between memories or make the host wait, and how to read their arguments.

The audit's mode looks each call up in :data:`RULES` (one dict lookup for every op) and only
then reads arguments, so the common case costs next to nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

__all__ = ["RULES", "Copy", "Rule", "copy_of", "syncs"]

_T = torch.Tensor


@dataclass(frozen=True)
class Rule:
    name: str
    sync: str | None = None  # why it waits (a key of events.FIXES); None for copy ops


class Copy(NamedTuple):
    src: torch.device
    dst: torch.device
    non_blocking: bool
    pinned: bool
    nbytes: int


_SYNCS: list[tuple[Any, str, str]] = [
    (_T.item, ".item()", "value"),
    (_T.tolist, ".tolist()", "value"),
    (_T.__int__, "int()", "value"),
    (_T.__float__, "float()", "value"),
    (_T.__index__, "index()", "value"),
    (torch.equal, "torch.equal()", "value"),
    (_T.__bool__, "bool()", "branch"),
    (_T.nonzero, ".nonzero()", "data-dependent-shape"),
    (torch.nonzero, "torch.nonzero()", "data-dependent-shape"),
    (_T.argwhere, ".argwhere()", "data-dependent-shape"),
    (torch.argwhere, "torch.argwhere()", "data-dependent-shape"),
    (_T.masked_select, ".masked_select()", "data-dependent-shape"),
    (torch.masked_select, "torch.masked_select()", "data-dependent-shape"),
    (_T.__getitem__, "boolean-mask indexing", "data-dependent-shape"),
    (_T.__repr__, "printing", "printing"),
    (_T.__format__, "formatting", "printing"),
]
_COPIES: list[tuple[Any, str]] = [
    (_T.to, ".to()"),
    (_T.cuda, ".cuda()"),
    (_T.cpu, ".cpu()"),
    (_T.copy_, ".copy_()"),
    (torch.tensor, "torch.tensor()"),
    (torch.as_tensor, "torch.as_tensor()"),
]
RULES: dict[Any, Rule] = {f: Rule(name, sync) for f, name, sync in _SYNCS}
RULES.update({f: Rule(name) for f, name in _COPIES})

_HOST = torch.device("cpu")


def syncs(op: str, t: Any, args: Any) -> bool:
    """Whether this sync-capable call on ``t`` makes the host wait (device tensors only)."""
    if not isinstance(t, torch.Tensor) or t.device.type == "cpu":
        return False
    if op == "boolean-mask indexing":
        index = args[1] if len(args) > 1 else None
        parts = index if isinstance(index, tuple) else (index,)
        return any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts)
    return True


def _non_blocking(args: Any, kwargs: dict[str, Any]) -> bool:
    if "non_blocking" in kwargs:
        return bool(kwargs["non_blocking"])
    # in every signature of .to/.cuda/.copy_, non_blocking is the first bool argument
    return next((a for a in args[1:] if isinstance(a, bool)), False)


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _pinned(host: torch.Tensor | None) -> bool:
    return host is not None and host.device.type == "cpu" and host.is_pinned()


def copy_of(op: str, args: Any, kwargs: dict[str, Any], out: Any) -> Copy | None:
    """Source/destination of a finished copy call, or None when nothing moved."""
    if op in ("torch.tensor()", "torch.as_tensor()"):
        data = args[0] if args else kwargs.get("data")
        if not isinstance(out, torch.Tensor) or out.device.type == "cpu":
            return None
        src = data if isinstance(data, torch.Tensor) else None
        if src is data and src is not None and src.device == out.device:
            return None
        return Copy(
            src.device if src is not None else _HOST, out.device, False, _pinned(src), _nbytes(out)
        )
    if op == ".copy_()":
        dst, src = args[0], args[1] if len(args) > 1 else kwargs.get("src")
        if not isinstance(src, torch.Tensor):
            return None
        nb = _non_blocking(args[1:], kwargs)
    else:
        src, dst = args[0], out
        if dst is src or not isinstance(dst, torch.Tensor):
            return None
        nb = _non_blocking(args, kwargs)
    if src.device == dst.device:
        return None
    host = src if src.device.type == "cpu" else dst if dst.device.type == "cpu" else None
    return Copy(src.device, dst.device, nb, _pinned(host), _nbytes(dst))
