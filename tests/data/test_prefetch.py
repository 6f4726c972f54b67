"""DevicePrefetcher on CPU: nested batches pass through; the staging slot reuses its buffers."""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from torchwarden.data import DataArgumentError, DevicePrefetcher, tree_map
from torchwarden.data.prefetch import _Slot
from torchwarden.errors import DataError

Pair = namedtuple("Pair", ["x", "y"])


def nested(i: int) -> dict[str, object]:
    return {
        "image": np.full((2, 3), i, dtype=np.float32),
        "parts": [torch.full((4,), i), (np.arange(3) + i, "label")],
        "pair": Pair(torch.tensor(i), np.int64(i)),
        "meta": OrderedDict(step=i),
    }


def test_nested_batches_pass_through_on_cpu() -> None:
    source = [nested(i) for i in range(3)]
    out = list(DevicePrefetcher(source, "cpu"))
    assert len(out) == 3
    for i, (src, got) in enumerate(zip(source, out)):
        assert isinstance(got["image"], torch.Tensor) and got["image"].sum().item() == 6 * i
        got["image"][0, 0] = -1.0  # shared with the NumPy array: no copy on CPU
        assert src["image"][0, 0] == -1.0  # type: ignore[index]
        assert got["parts"][0] is src["parts"][0]  # type: ignore[index]
        assert got["parts"][1][1] == "label" and got["parts"][1][0].tolist() == [i, i + 1, i + 2]
        assert isinstance(got["pair"], Pair) and got["pair"].y == i
        assert got["meta"] == OrderedDict(step=i)


def test_other_devices_get_the_same_structure() -> None:
    [batch] = DevicePrefetcher([nested(1)], "meta")
    assert batch["image"].device.type == "meta" and batch["image"].shape == (2, 3)
    assert batch["parts"][1][0].device.type == "meta"


def test_works_with_a_dataloader() -> None:
    ds = TensorDataset(torch.arange(10.0), torch.arange(10))
    loader = DevicePrefetcher(DataLoader(ds, batch_size=4), "cpu", depth=3)
    assert len(loader) == 3
    xs = torch.cat([x for x, _ in loader])
    assert xs.tolist() == list(range(10))


def test_generators_are_consumed_lazily_and_once() -> None:
    pulled: list[int] = []

    def gen() -> Iterator[np.ndarray]:
        for i in range(5):
            pulled.append(i)
            yield np.full(2, i)

    it = iter(DevicePrefetcher(gen(), "cpu"))
    assert next(it).tolist() == [0, 0]
    assert pulled == [0]
    with pytest.raises(TypeError, match="has no len"):  # len()'s protocol: a TypeError
        len(DevicePrefetcher(gen(), "cpu"))
    with pytest.raises(DataArgumentError, match="has no len"):
        len(DevicePrefetcher(gen(), "cpu"))


def test_depth_must_be_positive() -> None:
    with pytest.raises(DataArgumentError, match="depth must be >= 1") as caught:
        DevicePrefetcher([], "cpu", depth=0)
    assert isinstance(caught.value, DataError) and isinstance(caught.value, ValueError)


def test_slot_stages_into_reused_buffers() -> None:
    slot = _Slot(pin=False)  # the CUDA path's staging, without pinning
    a = slot.stage(torch.arange(6, dtype=torch.float32).reshape(2, 3).t())  # non-contiguous
    b = slot.stage(torch.tensor([True, False]))
    assert a.tolist() == [[0, 3], [1, 4], [2, 5]] and b.tolist() == [True, False]
    first = slot.buffers[0]
    slot.reuse()
    c = slot.stage(torch.ones(2, dtype=torch.float64))  # 16 B fit in the 24 B buffer
    assert slot.buffers[0] is first and c.tolist() == [1.0, 1.0]
    slot.stage(torch.ones(3))
    slot.reuse()
    slot.stage(torch.ones(100))  # too big: a larger buffer replaces it
    assert slot.buffers[0] is not first and slot.buffers[0].numel() == 400


def test_tree_map_leaves_non_arrays_alone() -> None:
    assert tree_map(lambda x: x * 2, {"a": [1, "s", None]}) == {"a": [1, "s", None]}
    assert tree_map(lambda x: x * 2, (np.ones(1),))[0].tolist() == [2.0]
