"""NumPy / DLPack <-> torch, zero-copy whenever memory can be shared, and never a crash.

``copy=None`` shares when it can and copies when it must; ``copy=False`` raises
:class:`ZeroCopyError` with the reasons; ``copy=True`` always returns fresh memory.
:func:`explain_copy` (in ``reasons``) lists the same reasons without converting.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from torch.utils.dlpack import from_dlpack

from torchwarden.data import staging
from torchwarden.data.reasons import (
    CopyReason,
    dlpack_reasons,
    numpy_reasons,
    same_device,
    tensor_reasons,
    usable_device,
)
from torchwarden.errors import DataArgumentError, DataError, ZeroCopyError

__all__ = ["to_numpy", "to_torch"]

Device = torch.device | str | int | None


def _check(reasons: list[CopyReason], copy: bool | None, what: str) -> None:
    fatal = [r for r in reasons if r.fatal]
    if fatal:
        raise DataError(f"{what}: " + " ".join(str(r) for r in fatal))
    if copy is False and reasons:
        text = "; ".join(str(r) for r in reasons)
        raise ZeroCopyError(
            f"{what} with copy=False, but memory cannot be shared: {text} "
            "(or pass copy=None to accept the copy)",
            reasons=[str(r) for r in reasons],
        )


def to_torch(obj: Any, device: Device = None, *, copy: bool | None = None) -> torch.Tensor:
    """A tensor holding ``obj`` (NumPy array, tensor, DLPack producer or sequence).

    ``device=None`` keeps the data where it is. To CUDA, pageable host memory goes through
    reusable pinned buffers in chunks (near pinned bandwidth); the result is ordered on the
    current stream. Read-only arrays are copied unless you make them writable (sharing would
    let torch write to them); ml_dtypes bfloat16/float8 arrays are shared as torch dtypes.

    >>> a = np.zeros(3, dtype=np.float32)
    >>> to_torch(a, copy=False)[0] = 1.0  # shares memory
    >>> float(a[0])
    1.0
    """
    dev = usable_device(device, f"to_torch({type(obj).__name__})")
    if isinstance(obj, torch.Tensor):
        return _from_tensor(obj, dev, copy)
    if isinstance(obj, np.ndarray):
        return _from_numpy(obj, dev, copy)
    if hasattr(obj, "__dlpack__"):
        return _from_dlpack(obj, dev, copy)
    if copy is False:
        raise ZeroCopyError(
            f"to_torch({type(obj).__name__}) with copy=False: a {type(obj).__name__} has no "
            "memory to share. Fix: build a NumPy array once (np.asarray) or pass copy=None.",
            reasons=[f"{type(obj).__name__} is not an array"],
        )
    return _from_numpy(_as_array(obj), dev, copy)


def _as_array(obj: Any) -> np.ndarray[Any, Any]:
    """``obj`` as a NumPy array of numbers, or an error naming what it is."""
    try:
        a = np.asarray(obj)
    except (ValueError, TypeError) as e:
        raise DataArgumentError(
            f"to_torch({type(obj).__name__}): cannot make an array of it ({e}); pass a NumPy "
            "array, a tensor, a DLPack producer or a (nested) sequence of numbers."
        ) from None
    if a.dtype.kind not in "biufc":
        raise DataArgumentError(
            f"to_torch({type(obj).__name__}): holds {a.dtype} data, not numbers; pass a NumPy "
            "array, a tensor, a DLPack producer or a (nested) sequence of numbers."
        )
    return a


def _from_numpy(
    a: np.ndarray[Any, Any], dev: torch.device | None, copy: bool | None
) -> torch.Tensor:
    reasons = numpy_reasons(a, dev)
    _check(reasons, copy, f"to_torch(ndarray {a.dtype}{list(a.shape)}, device={dev})")
    if dev is not None and dev.type != "cpu":
        return staging.to_device(staging.host_view(a), dev)
    if copy or reasons:
        fresh = np.array(a, dtype=a.dtype.newbyteorder("="), order="C", copy=True)
        return staging.share_numpy(fresh)
    return staging.share_numpy(a)


def _from_tensor(t: torch.Tensor, dev: torch.device | None, copy: bool | None) -> torch.Tensor:
    if dev is None or same_device(t.device, dev):
        return t.clone() if copy else t
    _check(tensor_reasons(t, dev), copy, f"to_torch(tensor on {t.device}, device={dev})")
    if t.device.type == "cpu" and not t.requires_grad:
        return staging.to_device(t, dev)
    return t.to(dev)  # differentiable when t requires grad


def _from_dlpack(obj: Any, dev: torch.device | None, copy: bool | None) -> torch.Tensor:
    reasons = dlpack_reasons(obj, dev)
    _check(reasons, copy, f"to_torch({type(obj).__name__} via DLPack, device={dev})")
    if any(r.kind == "negative-strides" for r in reasons):  # never hand these to torch
        return _from_numpy(np.asarray(obj), dev, copy)
    t = from_dlpack(obj)
    if dev is None or same_device(t.device, dev):
        return t.clone() if copy else t
    return _from_tensor(t, dev, copy)


Bf16 = Literal["float32", "bits"] | None


def to_numpy(
    t: torch.Tensor, *, copy: bool | None = None, bf16: Bf16 = None
) -> np.ndarray[Any, Any]:
    """A NumPy array of ``t``: shares its memory for CPU tensors, copies from devices.

    A tensor that requires grad is detached (no copy: the array is outside autograd).
    bfloat16 needs an explicit choice: ``bf16='float32'`` (widening copy) or
    ``bf16='bits'`` (zero-copy uint16 view of the raw bits).
    """
    if not isinstance(t, torch.Tensor):
        raise DataArgumentError(
            f"to_numpy({type(t).__name__}): expects a torch.Tensor; for other data use "
            "np.asarray, or to_torch first."
        )
    if bf16 not in (None, "float32", "bits"):
        raise DataArgumentError(f"to_numpy(bf16={bf16!r}): choose bf16='float32' or bf16='bits'.")
    reasons = tensor_reasons(t, bf16=bf16)
    _check(reasons, copy, f"to_numpy(tensor {t.dtype}{list(t.shape)} on {t.device})")
    x = t.detach()
    if x.dtype == torch.bfloat16:
        x = x.view(torch.uint16) if bf16 == "bits" else x.float()
    x = x.cpu().resolve_conj().resolve_neg()
    out = x.numpy()
    return out.copy() if copy and not reasons else out
