"""Look inside a DLPack capsule before torch does.

``torch.from_dlpack`` aborts the whole process (a C++ ``terminate``) on negative strides,
up to at least torch 2.13. We export a capsule of our own, read its shape and strides
with ctypes, and let it go unconsumed (its destructor frees it, as the DLPack spec says);
only producers that pass are handed to torch.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

from torchwarden.errors import DataError

__all__ = ["DLPackInfo", "inspect"]

# DLDeviceType codes (dlpack.h) -> torch device type names
_DEVICE_TYPES = {1: "cpu", 2: "cuda", 3: "cpu", 4: "opencl", 7: "vulkan", 8: "mps", 10: "rocm"}


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


# DLManagedTensorVersioned puts {version (2 x u32), manager_ctx, deleter, flags (u64)} first.
_VERSIONED_OFFSET = 8 + 2 * ctypes.sizeof(ctypes.c_void_p) + 8

_get_name = ctypes.pythonapi.PyCapsule_GetName
_get_name.restype = ctypes.c_char_p
_get_name.argtypes = [ctypes.py_object]
_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


@dataclass(frozen=True)
class DLPackInfo:
    """What a producer exports: device type, shape and strides (in elements)."""

    device_type: str
    shape: tuple[int, ...]
    strides: tuple[int, ...] | None  # None: compact row-major

    @property
    def negative_strides(self) -> bool:
        if self.strides is None:
            return False
        return any(s < 0 and n > 1 for s, n in zip(self.strides, self.shape))


def _read(capsule: Any) -> DLPackInfo:
    name = _get_name(capsule)
    if name not in (b"dltensor", b"dltensor_versioned"):
        raise DataError(
            f"DLPack capsule named {name!r} cannot be inspected; expected 'dltensor'. "
            "Fix: convert the object to NumPy (np.asarray) or a tensor first."
        )
    address = _get_pointer(capsule, name)
    if name == b"dltensor_versioned":
        address += _VERSIONED_OFFSET
    t = _DLTensor.from_address(address)
    shape = tuple(t.shape[i] for i in range(t.ndim))
    strides = tuple(t.strides[i] for i in range(t.ndim)) if t.strides else None
    device = _DEVICE_TYPES.get(t.device.device_type, f"dlpack-device-{t.device.device_type}")
    return DLPackInfo(device, shape, strides)


def inspect(obj: Any) -> DLPackInfo:
    """Shape, strides and device of what ``obj.__dlpack__()`` exports, without importing it."""
    try:
        capsule = obj.__dlpack__()
    except (BufferError, TypeError, ValueError, RuntimeError) as e:
        raise DataError(
            f"{type(obj).__name__}.__dlpack__() failed: {e}. "
            "Fix: convert the object to NumPy (np.asarray) or a tensor first."
        ) from None
    return _read(capsule)
