"""torchwarden.data on a real GPU: staging, prefetching under delays, resident data, audit.

Needs CUDA; every test is skipped cleanly without it.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from torchwarden.data import (
    DevicePrefetcher,
    GPUResidentLoader,
    audit,
    explain_copy,
    pinned_empty,
    to_numpy,
    to_torch,
)
from torchwarden.errors import DoesNotFitError, TransferBudgetError, ZeroCopyError

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
THIS_FILE = "test_data_gpu.py"


def gpu_delay(rng: random.Random) -> None:
    """A random delay on the current stream, so the consumer lags behind the copies."""
    sleep = getattr(torch.cuda, "_sleep", None)
    if sleep is not None:
        sleep(rng.randint(0, 2_000_000))  # cycles: up to ~1 ms
    else:
        m = torch.ones(512, 512, device="cuda")
        for _ in range(rng.randint(0, 20)):
            m = m @ m / 512


def awkward_arrays() -> list[np.ndarray[Any, Any]]:
    base = np.random.default_rng(0).standard_normal((64, 33)).astype(np.float32)
    read_only = base.copy()
    read_only.flags.writeable = False
    return [
        base,
        base[::-1],
        base[:, ::2],
        base.astype(">f4"),
        read_only,
        base.astype(np.float16),
        np.array(True),
        np.zeros((0, 3), dtype=np.int64),
        np.zeros(4, dtype=[("a", "u1"), ("b", "<f4")])["b"],
    ]


@pytest.mark.parametrize("index", range(len(awkward_arrays())))
def test_to_torch_on_cuda_matches_numpy(index: int) -> None:
    a = awkward_arrays()[index]
    t = to_torch(a, "cuda")
    assert t.device.type == "cuda"
    np.testing.assert_array_equal(t.cpu().numpy(), a.astype(a.dtype.newbyteorder("=")))


def test_chunked_copies_are_intact_and_the_source_is_free_after_return() -> None:
    a = np.arange(40 * 2**20 // 4 + 7, dtype=np.int32)  # ~40 MB: many chunks, buffers reused
    b = np.arange(10 * 2**20, dtype=np.int64)[::-1]
    expected_a, expected_b = a.copy(), b.copy()
    ta, tb = to_torch(a, "cuda"), to_torch(b, "cuda")
    a[:] = -1  # staging has read it: changing the source now must not matter
    assert torch.equal(ta.cpu(), torch.from_numpy(expected_a))
    assert torch.equal(tb.cpu(), torch.from_numpy(expected_b))


def test_pinned_numpy_goes_straight_to_the_device() -> None:
    p = pinned_empty((1000,), np.float32)
    assert torch.from_numpy(p).is_pinned()
    p[:] = 3.0
    t = to_torch(p, "cuda")
    torch.cuda.synchronize()
    assert bool((t == 3.0).all())


def test_to_numpy_from_cuda_copies_and_copy_false_says_why() -> None:
    t = torch.arange(5, device="cuda")
    assert to_numpy(t).tolist() == [0, 1, 2, 3, 4]
    assert [r.kind for r in explain_copy(t)] == ["device"]
    with pytest.raises(ZeroCopyError, match="cuda"):
        to_numpy(t, copy=False)
    with pytest.raises(ZeroCopyError, match="cannot be shared with cuda"):
        to_torch(np.ones(2), "cuda", copy=False)


def test_cuda_tensors_stay_where_they_are() -> None:
    t = torch.ones(3, device="cuda")
    assert to_torch(t, "cuda") is t and to_torch(t) is t


def test_prefetcher_never_hands_over_overwritten_data() -> None:
    """The producer overwrites one host buffer after each yield; the consumer lags randomly
    (GPU and host delays), holds some batches, and drops others, whose memory the allocator
    may reuse for later copies: every value read must still be the one sent."""
    shape, n = (256, 1024), 40

    def source() -> Iterator[dict[str, Any]]:
        buf = np.empty(shape, np.float32)
        for i in range(n):
            buf[:] = i
            pinned = torch.full((1024,), float(i)).pin_memory()
            yield {"x": buf, "i": i, "pinned": pinned, "nested": [np.full(8, i)]}

    rng = random.Random(0)
    bad = torch.zeros((), device="cuda", dtype=torch.int64)
    held: deque[tuple[int, torch.Tensor]] = deque(maxlen=3)
    seen = []
    for batch in DevicePrefetcher(source(), "cuda", depth=2):
        i = batch["i"]
        seen.append(i)
        gpu_delay(rng)
        if rng.random() < 0.3:
            time.sleep(rng.random() * 0.003)
        bad += (batch["x"] != i).sum() + (batch["pinned"] != i).sum()
        bad += (batch["nested"][0] != i).sum()
        if rng.random() < 0.5:
            held.append((i, batch["x"]))
        for j, x in held:
            bad += (x != j).sum()
        del batch
    torch.cuda.synchronize()
    assert seen == list(range(n))
    assert int(bad.item()) == 0


def test_prefetcher_with_a_pinned_dataloader() -> None:
    ds = TensorDataset(torch.arange(100.0), torch.arange(100))
    loader = DataLoader(ds, batch_size=16, pin_memory=True)
    xs, ys = zip(*DevicePrefetcher(loader, "cuda"))
    assert all(x.device.type == "cuda" for x in xs)
    assert torch.cat(xs).tolist() == list(range(100)) and torch.cat(ys).tolist() == list(range(100))


def test_resident_loader_on_cuda_is_complete_deterministic_and_sync_free() -> None:
    x = np.arange(1000, dtype=np.float32)
    y = np.arange(1000, dtype=np.int64)
    loader = GPUResidentLoader((x, y), batch_size=64, seed=3, device="cuda")
    with audit(max_syncs_per_step=0, max_h2d_bytes_per_step=0) as a:
        batches = []
        for bx, by in loader:
            batches.append((bx, by))
            a.step()
    order = torch.cat([bx for bx, _ in batches]).long().cpu()
    assert sorted(order.tolist()) == list(range(1000))
    assert all(torch.equal(bx.long(), by) for bx, by in batches)
    again = GPUResidentLoader((x, y), batch_size=64, seed=3, device="cuda")
    assert torch.equal(torch.cat([bx for bx, _ in again]).long().cpu(), order)


def test_resident_loader_says_why_it_does_not_fit() -> None:
    with pytest.raises(DoesNotFitError, match=r"GiB.*Fix: stream it"):
        GPUResidentLoader(np.zeros(2**20, dtype=np.float64), 10, device="cuda", headroom=0.999)


def test_audit_counts_known_code_on_cuda() -> None:
    x = torch.ones(1024)  # 4096 B
    p = torch.ones(1024).pin_memory()
    with audit() as a:
        g = x.cuda()  # blocking h2d: a sync
        x.to("cuda", non_blocking=True)  # pageable + non_blocking: a hidden sync
        p.to("cuda", non_blocking=True)  # pinned + non_blocking: asynchronous
        g.sum().item()
        bool(g[0] > 0)
        g.cpu()  # d2h, blocking
        g.tolist()
        torch.nonzero(g)
        repr(g)
    [s] = a.steps
    assert (s.h2d, s.h2d_bytes, s.h2d_pageable_bytes) == (3, 3 * 4096, 2 * 4096)
    assert (s.d2h, s.d2h_bytes) == (1, 4096)
    assert (s.syncs, s.hidden_syncs) == (8, 1)
    assert all(THIS_FILE in e.site for e in a.events)


def test_prefetched_loop_passes_a_zero_sync_budget_and_a_naive_one_fails() -> None:
    arrays = [np.full((64, 64), i, np.float32) for i in range(8)]
    with audit(max_syncs_per_step=0) as a:
        for x in DevicePrefetcher(arrays, "cuda"):
            x.mul_(2)
            a.step()
        to_torch(arrays[0], "cuda")
    assert sum(s.h2d for s in a.steps) == 9 and all(s.syncs == 0 for s in a.steps)
    with pytest.raises(TransferBudgetError, match=THIS_FILE), audit(max_syncs_per_step=0):
        for arr in arrays:
            torch.from_numpy(arr).to("cuda")


def test_pin_in_place_registers_without_copy_and_unpins() -> None:
    import gc
    import weakref

    import numpy as np

    from torchwarden.data import pin_in_place, pinning, to_torch, unpin

    a = np.arange(1 << 20, dtype=np.float32)
    assert pin_in_place(a) is a
    assert torch.from_numpy(a).is_pinned()  # the array's own pages, no copy
    t = to_torch(a[1000:2000], "cuda")
    torch.cuda.synchronize()
    assert torch.equal(t.cpu(), torch.from_numpy(a[1000:2000]))
    unpin(a)
    assert not torch.from_numpy(a).is_pinned()
    b = pin_in_place(np.ones(4096, dtype=np.float32))
    ptr = b.__array_interface__["data"][0]
    ref = weakref.ref(b)
    del b
    gc.collect()
    assert ref() is None and ptr not in pinning._registered  # dropped with the array
