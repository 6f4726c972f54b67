"""The CUDA code paths run on CPU against fake streams and events (the real ones: tests/gpu).

The fakes record what the code asks of CUDA, so ordering rules are checked here too:
a pinned buffer is refilled only after the event of its previous DMA was waited on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from torchwarden.data import DevicePrefetcher, staging

LOG: list[str] = []


class FakeStream:
    def __init__(self, device: Any = None) -> None:
        self.device = torch.device(device) if device is not None else torch.device("meta")

    def wait_stream(self, other: Any) -> None:
        LOG.append("wait_stream")

    def wait_event(self, event: Any) -> None:
        LOG.append(f"wait_event {event.id}")


class FakeEvent:
    count = 0

    def __init__(self) -> None:
        FakeEvent.count += 1
        self.id = FakeEvent.count

    def record(self, stream: Any) -> None:
        LOG.append(f"record {self.id}")

    def synchronize(self) -> None:
        LOG.append(f"synchronize {self.id}")


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real_empty = torch.empty

    def empty(*args: Any, pin_memory: bool = False, **kwargs: Any) -> torch.Tensor:
        return real_empty(*args, **kwargs)

    monkeypatch.setattr(torch.cuda, "Stream", FakeStream)
    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda d=None: FakeStream(d))
    monkeypatch.setattr(torch, "empty", empty)
    monkeypatch.setattr(torch.Tensor, "record_stream", lambda t, s: LOG.append("record_stream"))
    LOG.clear()
    FakeEvent.count = 0
    yield


def test_chunks_cover_the_bytes_in_order() -> None:
    for n in (0, 1, staging.FIRST_CHUNK, 300 * staging.MiB + 7):
        spans = staging.chunks(n)
        assert [a for a, _ in spans] == [0, *[b for _, b in spans[:-1]]][: len(spans)]
        assert (spans[-1][1] if spans else 0) == n
        assert all(b - a <= staging.MAX_CHUNK for a, b in spans)


@pytest.mark.usefixtures("fake_cuda")
@pytest.mark.parametrize("n", [1, 5, 3 * staging.MiB + 3, 70 * staging.MiB + 11])
def test_ring_copies_every_byte_and_waits_before_refilling(n: int) -> None:
    ring = staging._Ring(torch.device("cpu"))
    src = torch.randint(0, 255, (n,), dtype=torch.uint8)
    out = torch.zeros(n, dtype=torch.uint8)
    ring.copy(src, out)
    assert torch.equal(src, out)
    k = len(staging.chunks(n))
    assert LOG.count("synchronize 1") == (k > staging.N_BUFFERS)  # buffer 0 reused only then
    for i in range(staging.N_BUFFERS + 1, k + 1):  # chunk i refills the buffer of i - N_BUFFERS
        assert LOG.index(f"synchronize {i - staging.N_BUFFERS}") < LOG.index(f"record {i}")


@pytest.mark.usefixtures("fake_cuda")
def test_ring_handles_any_dtype_and_shape() -> None:
    ring = staging._Ring(torch.device("cpu"))
    for src in (torch.randn(3, 5), torch.tensor(True), torch.arange(7, dtype=torch.int16)):
        out = torch.zeros_like(src)
        ring.copy(src, out)
        assert torch.equal(src, out)


@pytest.mark.usefixtures("fake_cuda")
def test_prefetcher_cuda_path_orders_waits_and_keeps_structure() -> None:
    batches = (
        {"x": np.full((4, 4), i, np.float32), "i": i, "l": [torch.ones(3)]} for i in range(6)
    )
    prefetcher = DevicePrefetcher(batches, "cpu", depth=2)
    prefetcher.device = torch.device("meta")  # the CUDA path, with meta standing in
    out = list(prefetcher._cuda())
    assert [b["i"] for b in out] == list(range(6))
    assert out[0]["x"].shape == (4, 4) and out[0]["l"][0].device.type == "meta"
    waits = [e for e in LOG if e.startswith("wait_event")]
    assert len(waits) == 6  # the consumer waits on each batch's event before using it
    assert LOG.count("record_stream") == 12  # and each batch's two fresh device tensors
    assert LOG.index("synchronize 1") < LOG.index("record 4")  # slot 0 reused after its DMA
