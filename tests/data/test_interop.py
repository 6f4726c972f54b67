"""to_torch / to_numpy / explain_copy: zero-copy checked by mutation, reasons checked by kind."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from torchwarden.data import explain_copy, to_torch
from torchwarden.errors import DataError, ZeroCopyError

DTYPES = ["bool", "u1", "i1", "i2", "u2", "i4", "u4", "i8", "f2", "f4", "f8", "c8", "c16"]
SWAPPED = ">" if sys.byteorder == "little" else "<"


@st.composite
def arrays(draw: Any) -> np.ndarray[Any, Any]:
    """Views of a random buffer: dtype, shape, step (negative too), byte order, item-size
    multiple or not, writeability."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    if dtype.itemsize > 1 and draw(st.booleans()):
        dtype = dtype.newbyteorder(SWAPPED)
    shape = draw(st.lists(st.integers(0, 4), min_size=0, max_size=3))
    steps = [draw(st.sampled_from([1, 1, 2, -1, -2])) for _ in shape]
    base_shape = [max(1, n * abs(s)) for n, s in zip(shape, steps)]
    base = np.frombuffer(
        np.random.default_rng(0).bytes(int(np.prod(base_shape)) * dtype.itemsize + 1),
        dtype=np.uint8,
    )
    base = np.array(base)  # writable
    start = draw(st.sampled_from([0, 0, 1]))  # 1: misaligned base (still a multiple stride)
    buf = base[start : start + int(np.prod(base_shape)) * dtype.itemsize]
    full = buf.view(dtype).reshape(base_shape)
    if dtype.itemsize > 1 and draw(st.booleans()):  # a structured field: strides % itemsize != 0
        record = np.zeros(base_shape, dtype=[("pad", "u1"), ("v", dtype)])
        record["v"] = full
        full = record["v"]
    a = full[(*(slice(None, None, s) for s in steps), ...)]
    a = a[(*(slice(0, n) for n in shape), ...)]  # `...` keeps 0-d results arrays
    if dtype.kind == "b":
        a = a.view(np.uint8)  # random bytes are not valid bools; check bool dtype separately
    if draw(st.booleans()):
        a.flags.writeable = False
    return np.asarray(a)


def expected_kinds(a: np.ndarray[Any, Any]) -> set[str]:
    live = [s for s, n in zip(a.strides, a.shape) if n > 1] if a.size else []
    kinds = set()
    if any(s < 0 for s in live):
        kinds.add("negative-strides")
    if any(s % a.itemsize for s in live):
        kinds.add("unaligned-strides")
    if a.size and a.ctypes.data % a.dtype.alignment and not kinds:
        kinds.add("misaligned")
    if a.dtype.byteorder == SWAPPED:
        kinds.add("byte-order")
    if not a.flags.writeable:
        kinds.add("read-only")
    return kinds


def shares(a: np.ndarray[Any, Any], t: torch.Tensor) -> bool:
    """True when writing through the tensor changes the array (mutation test)."""
    if a.size == 0:
        return True
    first = (0,) * a.ndim
    before = a[first].tobytes()
    t.as_strided((1,), (1,)).view(torch.uint8).bitwise_not_()  # flip the first element's bits
    return bool(a[first].tobytes() != before)


@settings(max_examples=120, deadline=None)
@given(arrays())
def test_reasons_match_array_and_sharing_matches_reasons(a: np.ndarray[Any, Any]) -> None:
    reasons = explain_copy(a)
    assert {r.kind for r in reasons} == expected_kinds(a)
    assert all(r.message and r.fix for r in reasons)
    t = to_torch(a)
    expected = a.astype(a.dtype.newbyteorder("="))
    np.testing.assert_array_equal(t.numpy(), expected)
    if reasons:
        with pytest.raises(ZeroCopyError) as err:
            to_torch(a, copy=False)
        assert len(err.value.reasons) == len(reasons)
        if a.size:
            assert not shares(a, t)
    else:
        assert shares(a, to_torch(a, copy=False))


@settings(max_examples=40, deadline=None)
@given(arrays())
def test_copy_true_never_shares(a: np.ndarray[Any, Any]) -> None:
    t = to_torch(a, copy=True)
    if a.size:
        assert not shares(a, t)


def test_unaligned_strides_from_a_structured_field() -> None:
    field = np.zeros(4, dtype=[("a", "u1"), ("b", "<f4")])["b"]
    assert [r.kind for r in explain_copy(field)] == ["unaligned-strides"]
    np.testing.assert_array_equal(to_torch(field).numpy(), field)
    with pytest.raises(ZeroCopyError, match="not multiples of the item size"):
        to_torch(field, copy=False)


def test_size_one_dims_with_negative_strides_still_share() -> None:
    a = np.zeros((1, 3))[::-1]
    assert explain_copy(a) == []
    to_torch(a, copy=False)[0, 0] = 5.0
    assert a[0, 0] == 5.0


def test_read_only_arrays_copy_without_warning() -> None:
    a = np.arange(4.0)
    a.flags.writeable = False
    t = to_torch(a)  # pytest turns any warning into an error
    t[0] = 9.0
    assert a[0] == 0.0
    with pytest.raises(ZeroCopyError, match="mmap_mode='c'"):
        to_torch(a, copy=False)


def test_bool_arrays_share() -> None:
    a = np.array([True, False])
    to_torch(a, copy=False)[1] = True
    assert a[1]


@pytest.mark.parametrize(
    ("array", "fix"),
    [
        (np.array([1, "x"], dtype=object), "astype"),
        (np.array(["ab"]), "integer ids"),
        (np.zeros(2, dtype="M8[s]"), "view"),
        (np.zeros(2, dtype=np.longdouble), "float64"),
    ],
)
def test_unsupported_dtypes_raise_with_a_fix(array: np.ndarray[Any, Any], fix: str) -> None:
    [reason] = explain_copy(array)
    assert reason.kind == "unsupported-dtype" and reason.fatal
    with pytest.raises(DataError, match=fix):
        to_torch(array)


def test_to_another_device_is_a_copy() -> None:
    a = np.ones(3, dtype=np.float32)
    assert [r.kind for r in explain_copy(a, "meta")] == ["device"]
    assert to_torch(a, "meta").device.type == "meta"
    with pytest.raises(ZeroCopyError, match="cannot be shared with meta"):
        to_torch(a, "meta", copy=False)


def test_tensors_pass_through_or_clone() -> None:
    t = torch.ones(3)
    assert to_torch(t) is t and to_torch(t, "cpu", copy=False) is t
    assert to_torch(t, copy=True).data_ptr() != t.data_ptr()
    with pytest.raises(ZeroCopyError):
        to_torch(t, "meta", copy=False)


def test_sequences_copy_and_refuse_copy_false() -> None:
    assert to_torch([1.0, 2.0]).tolist() == [1.0, 2.0]
    assert [r.kind for r in explain_copy([1, 2])] == ["not-an-array"]
    with pytest.raises(ZeroCopyError, match=r"np\.asarray"):
        to_torch([1, 2], copy=False)


def test_tensors_that_require_grad_stay_differentiable_across_devices() -> None:
    w = torch.ones(2, requires_grad=True)
    moved = to_torch(w, "meta")
    assert moved.requires_grad and moved.grad_fn is not None
