"""GPUResidentLoader on CPU: every sample once per epoch, deterministic, structure kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchwarden.data import GPUResidentLoader
from torchwarden.data.resident import check_fits
from torchwarden.errors import DataError, DoesNotFitError

X = np.arange(10, dtype=np.float32).reshape(10, 1)
Y = np.arange(10, dtype=np.int64)
GiB = 2**30


def epoch(loader: GPUResidentLoader) -> list[int]:
    return [int(v) for x, _ in loader for v in x[:, 0].tolist()]


def test_each_sample_once_per_epoch_and_labels_follow() -> None:
    loader = GPUResidentLoader((X, Y), batch_size=3, seed=1, device="cpu")
    assert len(loader) == 4
    for x, y in loader:
        assert torch.equal(x[:, 0].long(), y)
    assert sorted(epoch(loader)) == list(range(10))


def test_same_seed_same_order_new_epoch_new_order() -> None:
    a = GPUResidentLoader((X, Y), batch_size=4, seed=7, device="cpu")
    b = GPUResidentLoader((X, Y), batch_size=4, seed=7, device="cpu")
    first = epoch(a)
    assert first == epoch(b)
    assert epoch(a) != first  # epoch 1 reshuffles
    a.set_epoch(0)
    assert epoch(a) == first
    c = GPUResidentLoader((X, Y), batch_size=4, seed=8, device="cpu")
    assert epoch(c) != first


def test_no_shuffle_drop_last_and_dict_structure() -> None:
    loader = GPUResidentLoader(
        {"x": X, "y": Y}, batch_size=4, shuffle=False, drop_last=True, device="cpu"
    )
    batches = list(loader)
    assert len(batches) == len(loader) == 2
    assert batches[1]["y"].tolist() == [4, 5, 6, 7]


def test_single_array_and_shared_memory_on_cpu() -> None:
    x = np.zeros((4, 2), dtype=np.float32)
    [batch] = GPUResidentLoader(x, batch_size=4, shuffle=False, device="cpu")
    batch[0, 0] = 1.0
    assert x[0, 0] == 1.0


def test_mismatched_lengths_and_bad_arguments() -> None:
    with pytest.raises(DataError, match="same first dimension"):
        GPUResidentLoader((X, Y[:5]), batch_size=2, device="cpu")
    with pytest.raises(DataError, match="batch_size must be >= 1"):
        GPUResidentLoader(X, batch_size=0, device="cpu")


def test_does_not_fit_says_why_and_what_to_do() -> None:
    check_fits(GiB, free=4 * GiB, total=8 * GiB, headroom=0.1, where="cuda:0")
    with pytest.raises(
        DoesNotFitError,
        match=r"needs 3\.0 GiB on cuda:0.*2\.0 GiB of 8\.0 GiB.*DevicePrefetcher",
    ):
        check_fits(3 * GiB, free=2 * GiB, total=8 * GiB, headroom=0.1, where="cuda:0")
    with pytest.raises(DoesNotFitError, match=r"headroom=0\.5 keeps 4\.0 GiB"):
        check_fits(GiB, free=4 * GiB, total=8 * GiB, headroom=0.5, where="cuda:0")
