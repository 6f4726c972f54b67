"""CUDA variants of the planted-leak corpus and the clean cases."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import torchwarden
from tests.lifecycle.helpers import site

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
MOD = __name__
HISTORY: list[torch.Tensor] = []
ACTS: list[torch.Tensor] = []


def here(marker: str) -> str:
    return site(__file__, marker)


def test_cuda_global_list() -> None:
    HISTORY.clear()
    with torchwarden.scope(mode="exact") as s:
        HISTORY.append(torch.randn(1024, device="cuda") * 2)  # SITE:cuda-list
    (leak,) = s.report.leaks
    assert leak.holder == f"{MOD}.HISTORY[0]"
    assert leak.site == here("SITE:cuda-list")
    assert leak.device == "cuda:0" and leak.nbytes == 4096
    after = s.report.memory["after"]["cuda:0"]
    # no CUDA sample before the scope when this test is the process's first CUDA use:
    # sampling never initialises CUDA itself
    before = s.report.memory["before"].get("cuda:0", {"allocated": 0})
    assert after["allocated"] >= before["allocated"] + 4096
    HISTORY.clear()


TOTALS: dict[str, torch.Tensor] = {}


def test_cuda_validation_loss_without_no_grad_pins_activations() -> None:
    model = nn.Sequential(nn.Linear(512, 4096), nn.GELU(), nn.Linear(4096, 1)).cuda()
    batches = [torch.randn(256, 512, device="cuda") for _ in range(5)]
    # kept in a container: a name bound where the `with` runs is a result, not a leak
    with torchwarden.scope(mode="exact") as s:
        TOTALS["val"] = torch.zeros((), device="cuda")
        for xb in batches:
            TOTALS["val"] = TOTALS["val"] + model(xb).square().mean()  # SITE:cuda-val
    (leak,) = s.report.leaks
    assert leak.holder == f"{MOD}.TOTALS['val']" and leak.site == here("SITE:cuda-val")
    assert leak.retains_graph
    assert leak.graph_bytes >= 5 * 2 * 256 * 4096 * 4  # pre- and post-GELU activations
    # graph_bytes is what dropping the holder frees: the batches, made before the scope,
    # stay; graph_retention counts everything the graph reaches
    retained = torchwarden.graph_retention(TOTALS["val"]).by_device["cuda:0"]
    assert retained - 5 * 256 * 512 * 4 == leak.graph_bytes
    TOTALS.clear()


def test_cuda_forward_hook() -> None:
    ACTS.clear()
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU()).cuda()
    handle = model[0].register_forward_hook(lambda m, i, o: ACTS.append(o))
    try:
        with torchwarden.scope(mode="exact") as s:
            model(torch.randn(8, 64, device="cuda")).sum().backward()  # SITE:cuda-hook
    finally:
        handle.remove()
    (leak,) = s.report.leaks
    assert leak.holder == f"{MOD}.ACTS[0]" and leak.site == here("SITE:cuda-hook")
    ACTS.clear()


def test_cuda_small_view_of_large_tensor() -> None:
    HISTORY.clear()
    with torchwarden.scope(mode="exact") as s:
        HISTORY.append(torch.empty(4096, 1024, device="cuda")[0])  # SITE:cuda-view
    (leak,) = s.report.leaks
    assert leak.nbytes == 4096 * 1024 * 4 and leak.site == here("SITE:cuda-view")
    HISTORY.clear()


def test_caching_allocator_reserve_is_not_a_leak() -> None:
    torch.cuda.synchronize()
    with torchwarden.scope(mode="exact") as s:
        big = torch.empty(256 * 1024 * 1024, dtype=torch.uint8, device="cuda")
        del big
    assert s.report.ok, str(s.report)
    after = s.report.memory["after"]["cuda:0"]
    assert after["reserved"] - after["allocated"] >= 256 * 1024 * 1024  # cached, not leaked


def test_cuda_clean_training_step_and_item_under_no_grad() -> None:
    model = nn.Linear(256, 1).cuda()
    opt = torch.optim.Adam(model.parameters())
    total = 0.0
    with torchwarden.scope(mode="exact") as s:
        loss = model(torch.randn(64, 256, device="cuda")).square().mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        with torch.no_grad():
            total += model(torch.randn(64, 256, device="cuda")).sum().item()
    assert s.report.ok, str(s.report)
    del loss


def test_cuda_leak_growing_every_step_found_in_default_mode() -> None:
    model = nn.Linear(1024, 1024).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    kept: list[torch.Tensor] = []
    found_at = None
    for step in range(40):
        with torchwarden.scope("gpu-trend") as s:
            out = model(torch.randn(32, 1024, device="cuda"))
            out.square().mean().backward()
            opt.step()
            opt.zero_grad()
            if step >= 20:
                kept.append(out.detach())  # SITE:cuda-trend
        if s.report.leaks and found_at is None:
            found_at = step
            assert s.report.leaks[0].site == here("SITE:cuda-trend")
            assert s.report.leaks[0].holder.startswith("local kept[")
    assert found_at is not None and 20 <= found_at < 30, found_at


def test_memory_stats_on_cuda() -> None:
    x = torch.ones(1024, 1024, device="cuda")
    (m,) = torchwarden.memory.stats("cuda")
    assert isinstance(m, torchwarden.memory.CUDAMemory)
    assert m.allocated >= x.nbytes and m.reserved >= m.allocated and 0.0 <= m.fragmentation < 1.0
    assert m.peak_allocated >= m.allocated
    assert [d.device for d in torchwarden.memory.stats()][:2] == ["cpu", "cuda:0"]
    del x


def test_positional_encoding_follows_device() -> None:
    pe = torchwarden.nn.PositionalEncoding(64, max_len=128).cuda()
    assert pe.pe.device.type == "cuda"
    assert pe(torch.zeros(2, 100, 64, device="cuda")).device.type == "cuda"
