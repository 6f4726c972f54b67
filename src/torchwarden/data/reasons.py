"""Why a conversion would copy: each reason is a finding with ``kind``, ``message``, ``fix``.

:func:`explain_copy` is the public entry; ``to_torch``/``to_numpy`` use the same functions,
so what ``explain_copy`` says is exactly what the conversion does.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from torchwarden.data import dlpack
from torchwarden.errors import DataArgumentError, DeviceUnavailableError

__all__ = [
    "CopyReason",
    "explain_copy",
    "numpy_reasons",
    "resolve_device",
    "tensor_reasons",
    "usable_device",
]

# NumPy dtypes that come from ml_dtypes; torch has them, from_numpy does not take them.
EXTENSION_DTYPES: dict[str, torch.dtype] = {
    "bfloat16": torch.bfloat16,
    "float8_e4m3fn": torch.float8_e4m3fn,
    "float8_e5m2": torch.float8_e5m2,
}
_NUMPY_KINDS = set("biufc")  # bool, signed, unsigned, float, complex
_NATIVE = "<" if sys.byteorder == "little" else ">"


@dataclass(frozen=True)
class CopyReason:
    """One reason a conversion copies. ``fatal`` reasons mean no conversion is possible."""

    kind: str
    message: str
    fix: str
    fatal: bool = False

    def __str__(self) -> str:
        return f"{self.message} Fix: {self.fix}"


def resolve_device(device: torch.device | str | int | None) -> torch.device | None:
    if device is None:
        return None
    if isinstance(device, int):
        return torch.device("cuda", device)
    return torch.device(device)


def usable_device(device: torch.device | str | int | None, what: str) -> torch.device | None:
    """``device`` resolved, or an error naming the fix when it is not a device this machine has."""
    try:
        dev = resolve_device(device)
    except (RuntimeError, TypeError, ValueError):
        raise DataArgumentError(
            f"{what}: device={device!r} is not a device; pass 'cpu', 'cuda', 'cuda:0' or a "
            "torch.device."
        ) from None
    if dev is None or dev.type != "cuda":
        return dev
    if not torch.cuda.is_available():
        raise DeviceUnavailableError(
            f"{what}: device={device!r} but CUDA is not available here (torch "
            f"{torch.__version__}). Pass device='cpu', or run on a GPU machine with a CUDA "
            "build of torch (`torchwarden doctor` says why CUDA is unavailable)."
        )
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceUnavailableError(
            f"{what}: device={device!r} but only {torch.cuda.device_count()} CUDA device(s) are "
            "visible; pick one of them, or check CUDA_VISIBLE_DEVICES."
        )
    return dev


def same_device(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


def _device_reason(src: str, dst: torch.device) -> CopyReason:
    return CopyReason(
        "device",
        f"memory on {src} cannot be shared with {dst}: moving it there is a copy.",
        "accept the copy (copy=None); to copy once, keep the data on the device "
        "(torchwarden.data.GPUResidentLoader) or stream it with DevicePrefetcher.",
    )


def _dtype_reason(dtype: np.dtype[Any]) -> CopyReason | None:
    if dtype.name in EXTENSION_DTYPES:
        return None
    limit = {"f": 8, "c": 16}.get(dtype.kind, 8)
    if dtype.kind in _NUMPY_KINDS and dtype.fields is None and dtype.itemsize <= limit:
        return None
    fixes = {
        "O": "convert the objects first, e.g. a.astype(np.float32) (or the dtype they hold).",
        "U": "encode strings as integer ids (np.unique(a, return_inverse=True)) first.",
        "S": "encode bytes as integer ids, or view them as a.view(np.uint8).",
        "M": "view as integers (zero-copy): a.view(np.int64).",
        "m": "view as integers (zero-copy): a.view(np.int64).",
        "V": "select a field (a['x']) or view the raw bytes with a.view(np.uint8).",
    }
    fix = fixes.get(dtype.kind, "convert with a.astype(np.float64) (torch has no such dtype).")
    return CopyReason(
        "unsupported-dtype", f"NumPy dtype {dtype} has no torch equivalent.", fix, fatal=True
    )


def effective_strides(a: np.ndarray[Any, Any]) -> tuple[int, ...]:
    """Strides with those of size-0/1 dimensions set to 0: they never address memory."""
    if a.size == 0:
        return (0,) * a.ndim
    return tuple(s if n > 1 else 0 for s, n in zip(a.strides, a.shape))


def numpy_reasons(a: np.ndarray[Any, Any], device: torch.device | None = None) -> list[CopyReason]:
    """Reasons ``to_torch(a, device)`` copies instead of sharing ``a``'s memory."""
    dtype_reason = _dtype_reason(a.dtype)
    if dtype_reason is not None:
        return [dtype_reason]
    out: list[CopyReason] = []
    strides = effective_strides(a)
    if any(s < 0 for s in strides):
        out.append(
            CopyReason(
                "negative-strides",
                f"the array has negative strides {a.strides} (a reversed view such as a[::-1]); "
                "torch tensors cannot have negative strides.",
                "convert the un-reversed array and flip the tensor (torch.flip), or call "
                "np.ascontiguousarray(a) once where the data is made.",
            )
        )
    if any(s % a.itemsize for s in strides):
        out.append(
            CopyReason(
                "unaligned-strides",
                f"strides {a.strides} are not multiples of the item size {a.itemsize} "
                "(a field of a structured array, or a byte-offset view).",
                "store each field in its own array, or np.ascontiguousarray(a) once at load time.",
            )
        )
    if a.size and a.ctypes.data % a.dtype.alignment and not out:  # else one cause, one reason
        out.append(
            CopyReason(
                "misaligned",
                f"the data starts at an address that is not a multiple of the {a.dtype} "
                "alignment (a byte-offset view of a buffer); torch would read and write it "
                "with aligned instructions, which can crash the process.",
                "copy it once into a fresh array at load time: np.array(a, copy=True).",
            )
        )
    if a.dtype.byteorder not in ("=", "|", _NATIVE):
        out.append(
            CopyReason(
                "byte-order",
                f"dtype {a.dtype.str} is not in this machine's byte order; torch only has native order.",
                "convert once at load time: a.astype(a.dtype.newbyteorder('=')).",
            )
        )
    if not a.flags.writeable:
        out.append(
            CopyReason(
                "read-only",
                "the array is read-only (a read-only np.memmap, np.frombuffer on bytes, a "
                "broadcast view); torch tensors are always writable, so sharing would let torch "
                "write to memory that must not change.",
                "open memmaps with mmap_mode='c' (copy-on-write) or 'r+', or "
                "a.setflags(write=True) if you own the memory.",
            )
        )
    if device is not None and device.type != "cpu":
        out.append(_device_reason("the host", device))
    return out


def tensor_reasons(
    t: torch.Tensor, device: torch.device | None = None, *, bf16: str | None = None
) -> list[CopyReason]:
    """Reasons ``to_torch(t, device)`` (``device`` given) or ``to_numpy(t)`` copies."""
    if device is not None:
        return [] if same_device(t.device, device) else [_device_reason(str(t.device), device)]
    if t.layout != torch.strided:
        return [
            CopyReason(
                "layout",
                f"a {t.layout} tensor has no NumPy equivalent.",
                "t.to_dense() first.",
                True,
            )
        ]
    out: list[CopyReason] = []
    if t.dtype == torch.bfloat16:
        out.extend(_bf16_reasons(bf16))
    elif t.dtype not in _TORCH_TO_NUMPY:
        fix = "convert on the device first, e.g. t.float()."
        out.append(CopyReason("unsupported-dtype", f"{t.dtype} has no NumPy dtype.", fix, True))
    if t.device.type == "meta":
        out.append(
            CopyReason("device", "meta tensors hold no data.", "materialise it first.", True)
        )
    elif t.device.type != "cpu":
        out.append(_device_reason(str(t.device), torch.device("cpu")))
    if t.is_conj() or t.is_neg():
        out.append(
            CopyReason(
                "lazy-view",
                "the tensor is a lazy conjugate/negative view; NumPy needs the values resolved.",
                "call t.resolve_conj() / t.resolve_neg() where it is made, or use "
                "torch.view_as_real for complex data.",
            )
        )
    return out


def _bf16_reasons(bf16: str | None) -> list[CopyReason]:
    if bf16 == "bits":
        return []
    if bf16 == "float32":
        return [CopyReason("bf16", "bfloat16 is widened to float32.", "bf16='bits' to share.")]
    return [
        CopyReason(
            "bf16",
            "NumPy has no bfloat16, so the tensor cannot be converted as is.",
            "choose explicitly: to_numpy(t, bf16='float32') (a widening copy) or "
            "to_numpy(t, bf16='bits') (zero-copy uint16 view of the raw bits).",
            fatal=True,
        )
    ]


_TORCH_TO_NUMPY = {
    torch.bool,
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.uint16,
    torch.uint32,
    torch.uint64,
    torch.float16,
    torch.float32,
    torch.float64,
    torch.complex64,
    torch.complex128,
}


def explain_copy(obj: Any, device: torch.device | str | int | None = None) -> list[CopyReason]:
    """The reasons a conversion of ``obj`` would copy (empty: it would share memory).

    For a NumPy array, DLPack producer or sequence: ``to_torch(obj, device)``.
    For a tensor: ``to_numpy(obj)`` when ``device`` is None, else ``to_torch(obj, device)``.

    >>> [r.kind for r in explain_copy(np.arange(4)[::-1])]
    ['negative-strides']
    """
    dev = resolve_device(device)
    if isinstance(obj, torch.Tensor):
        return tensor_reasons(obj, dev)
    if isinstance(obj, np.ndarray):
        return numpy_reasons(obj, dev)
    if hasattr(obj, "__dlpack__"):
        return dlpack_reasons(obj, dev)
    return [
        CopyReason(
            "not-an-array",
            f"a {type(obj).__name__} has no buffer torch can share; its elements are read one by one.",
            "build a NumPy array once (np.asarray) and convert that.",
        )
    ]


def dlpack_reasons(obj: Any, device: torch.device | None) -> list[CopyReason]:
    info = dlpack.inspect(obj)
    out: list[CopyReason] = []
    if info.negative_strides:
        out.append(
            CopyReason(
                "negative-strides",
                f"the DLPack producer exports negative strides {info.strides}; torch cannot "
                "share them (torch.from_dlpack aborts the process on them).",
                "pass a contiguous copy from the producer (e.g. x.copy()), or convert un-reversed "
                "and torch.flip the tensor.",
                fatal=not hasattr(obj, "__array__"),
            )
        )
    if device is not None and info.device_type != device.type:
        out.append(_device_reason(info.device_type, device))
    return out
