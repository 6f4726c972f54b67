"""to_numpy and DLPack producers: sharing by mutation, explicit choices, no crashes."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch

from torchwarden.data import explain_copy, to_numpy, to_torch
from torchwarden.errors import DataError, ZeroCopyError


class Producer:
    """A DLPack-only producer (no __array__), like a foreign array library's array."""

    def __init__(self, a: np.ndarray[Any, Any]) -> None:
        self._a = a

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self._a.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> Any:
        return self._a.__dlpack_device__()


class HostProducer(Producer):
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray[Any, Any]:
        return self._a


def test_cpu_tensors_share() -> None:
    t = torch.zeros(2, 3)
    to_numpy(t, copy=False)[1, 2] = 7.0
    assert t[1, 2] == 7.0
    assert explain_copy(t) == []


def test_requires_grad_is_detached_without_copy() -> None:
    w = torch.zeros(3, requires_grad=True)
    a = to_numpy(w, copy=False)
    a[0] = 2.0
    assert w[0].item() == 2.0


def test_copy_true_is_fresh() -> None:
    t = torch.zeros(3)
    to_numpy(t, copy=True)[0] = 1.0
    assert t[0] == 0.0


def test_bf16_needs_an_explicit_choice() -> None:
    t = torch.tensor([1.5, -2.0], dtype=torch.bfloat16)
    with pytest.raises(DataError, match=r"bf16='float32'.*bf16='bits'"):
        to_numpy(t)
    wide = to_numpy(t, bf16="float32")
    assert wide.dtype == np.float32 and wide.tolist() == [1.5, -2.0]
    bits = to_numpy(t, bf16="bits", copy=False)
    assert bits.dtype == np.uint16
    bits[0] = 0
    assert t[0].item() == 0.0
    with pytest.raises(ZeroCopyError, match="widened"):
        to_numpy(t, bf16="float32", copy=False)


def test_conjugate_views_are_resolved_by_a_copy() -> None:
    c = torch.tensor([1 + 2j]).conj()
    assert [r.kind for r in explain_copy(c)] == ["lazy-view"]
    assert to_numpy(c).tolist() == [1 - 2j]
    with pytest.raises(ZeroCopyError, match="resolve_conj"):
        to_numpy(c, copy=False)


def test_meta_and_sparse_tensors_cannot_convert() -> None:
    with pytest.raises(DataError, match="meta tensors hold no data"):
        to_numpy(torch.ones(2, device="meta"))
    with pytest.raises(DataError, match="to_dense"):
        to_numpy(torch.ones(2).to_sparse())


def test_float8_has_no_numpy_dtype() -> None:
    with pytest.raises(DataError, match=r"t\.float"):
        to_numpy(torch.zeros(2).to(torch.float8_e4m3fn))


def test_dlpack_producer_shares() -> None:
    a = np.zeros(4, dtype=np.float32)
    assert explain_copy(Producer(a)) == []
    to_torch(Producer(a), copy=False)[2] = 3.0
    assert a[2] == 3.0


def test_dlpack_negative_strides_never_reach_torch() -> None:
    a = np.arange(4.0)[::-1]
    [reason] = explain_copy(Producer(a))
    assert reason.kind == "negative-strides" and reason.fatal
    with pytest.raises(DataError, match="contiguous copy"):
        to_torch(Producer(a))
    assert to_torch(HostProducer(a)).tolist() == [3.0, 2.0, 1.0, 0.0]  # via NumPy, copied


def test_the_guard_prevents_a_real_abort() -> None:
    """Without the guard torch.from_dlpack kills the process; with it, a clean error."""
    code = (
        "import numpy as np, torch\n"
        "from torchwarden.data import to_torch\n"
        "class P:\n"
        "    def __init__(s, a): s.a = a\n"
        "    def __dlpack__(s, **k): return s.a.__dlpack__(**k)\n"
        "    def __dlpack_device__(s): return s.a.__dlpack_device__()\n"
        "try:\n"
        "    to_torch(P(np.arange(4.0)[::-1]))\n"
        "except Exception as e:\n"
        "    print(type(e).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "DataError"


@pytest.mark.parametrize("name", ["bfloat16", "float8_e4m3fn"])
def test_ml_dtypes_arrays_share_as_torch_dtypes(name: str) -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    a = np.ones(3, dtype=getattr(ml_dtypes, name))
    t = to_torch(a, copy=False)
    assert t.dtype == getattr(torch, name)
    assert t.float().tolist() == [1.0, 1.0, 1.0]
