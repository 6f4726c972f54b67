"""Planted leaks: each must be reported with its exact holder and creation site."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

import torchwarden
from tests.lifecycle.helpers import only_leak, site

MOD = __name__
HISTORY: list[torch.Tensor] = []
ACTS: list[torch.Tensor] = []
CALLBACKS: list[Any] = []
ERRORS: list[BaseException] = []
VIEWS: list[torch.Tensor] = []
TOTALS: dict[str, torch.Tensor] = {}


class Cache:
    store: dict[str, torch.Tensor] = {}  # noqa: RUF012 - the planted class-level cache


def here(marker: str) -> str:
    return site(__file__, marker)


def test_global_list() -> None:
    HISTORY.clear()
    with torchwarden.scope(mode="exact") as s:
        HISTORY.append(torch.randn(16) * 2)  # SITE:global-list
    leak = only_leak(s.report)
    assert leak.holder == f"{MOD}.HISTORY[0]"
    assert leak.site == here("SITE:global-list")
    assert leak.nbytes == 16 * 4
    assert not leak.retains_graph and leak.graph_bytes == 0
    assert s.report.bytes_leaked == 64 and not s.report.ok
    HISTORY.clear()


def test_validation_loss_summed_without_no_grad() -> None:
    model = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 1))
    batches = [torch.randn(64, 32) for _ in range(5)]
    TOTALS.clear()
    with torchwarden.scope(mode="exact") as s:
        TOTALS["val"] = torch.zeros(())
        for xb in batches:
            TOTALS["val"] = TOTALS["val"] + model(xb).pow(2).mean()  # SITE:val-loss
    leak = only_leak(s.report)
    assert leak.holder == f"{MOD}.TOTALS['val']"
    assert leak.site == here("SITE:val-loss")
    assert leak.retains_graph
    # each batch pins at least its 64x256 float32 hidden activations
    assert leak.graph_bytes >= 5 * 64 * 256 * 4
    assert "no_grad" in leak.fix
    TOTALS.clear()


def test_name_bound_result_with_graph_is_a_result() -> None:
    model = nn.Linear(8, 1)
    with torchwarden.scope(mode="exact") as s:
        total = model(torch.randn(4, 8)).sum()
    assert s.report.ok, str(s.report)
    assert total.grad_fn is not None


def test_losses_summed_after_backward_pin_nothing() -> None:
    model = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 1))
    batches = [torch.randn(64, 32) for _ in range(5)]
    with torchwarden.scope(mode="exact") as s:
        total = torch.zeros(())
        for xb in batches:
            loss = model(xb).pow(2).mean()
            loss.backward()
            total = total + loss
    assert s.report.ok, str(s.report)
    assert torchwarden.graph_retention(total).bytes == 0


def test_forward_hook_stashing_activations() -> None:
    ACTS.clear()
    model = nn.Sequential(nn.Linear(8, 8), nn.Tanh())
    handle = model[0].register_forward_hook(lambda m, i, o: ACTS.append(o))
    x = torch.randn(4, 8, requires_grad=True)
    try:
        with torchwarden.scope(mode="exact") as s:
            model(x).sum().backward()  # SITE:hook
    finally:
        handle.remove()
    leak = only_leak(s.report)
    assert leak.holder == f"{MOD}.ACTS[0]"
    assert leak.site == here("SITE:hook")
    assert leak.shape == (4, 8)
    ACTS.clear()


def make_scaler() -> Any:
    factor = torch.randn(128)  # SITE:closure

    def scale(v: torch.Tensor) -> torch.Tensor:
        return v * factor

    return scale


def test_closure_capturing_a_tensor() -> None:
    CALLBACKS.clear()
    with torchwarden.scope(mode="exact") as s:
        CALLBACKS.append(make_scaler())
    leak = only_leak(s.report)
    assert leak.holder == "closure of make_scaler.<locals>.scale (variable factor)"
    assert leak.holder_kind == "closure"
    assert leak.site == here("SITE:closure")
    CALLBACKS.clear()


def test_class_level_cache_dict() -> None:
    Cache.store.clear()
    with torchwarden.scope(mode="exact") as s:
        Cache.store["x"] = torch.ones(10, 10)  # SITE:class-cache
    leak = only_leak(s.report)
    assert leak.holder == f"{MOD}.Cache.store['x']"
    assert leak.site == here("SITE:class-cache")
    Cache.store.clear()


def fail_with_scratch() -> None:
    scratch = torch.randn(256)  # SITE:traceback
    raise ValueError(f"boom after {scratch.shape}")


def test_tensor_kept_by_caught_exception_traceback() -> None:
    ERRORS.clear()
    with torchwarden.scope(mode="exact") as s:
        try:
            fail_with_scratch()
        except ValueError as e:
            ERRORS.append(e)
    leak = only_leak(s.report)
    assert leak.holder == f"local scratch of fail_with_scratch() (in {MOD}.ERRORS[0].__traceback__)"
    assert leak.site == here("SITE:traceback")
    ERRORS.clear()


def test_small_view_of_large_tensor_reports_storage_bytes() -> None:
    VIEWS.clear()
    with torchwarden.scope(mode="exact") as s:
        VIEWS.append(torch.randn(1000, 100)[0])  # SITE:view
    leak = only_leak(s.report)
    assert leak.shape == (100,)
    assert leak.nbytes == 1000 * 100 * 4
    assert leak.holder == f"{MOD}.VIEWS[0]"
    assert leak.site == here("SITE:view")
    VIEWS.clear()


def test_view_reports_its_line_and_its_storages_line() -> None:
    VIEWS.clear()
    with torchwarden.scope(mode="exact") as s:
        big = torch.randn(1000, 100)  # SITE:storage
        VIEWS.append(big[:1])  # SITE:own-line
        del big
    leak = only_leak(s.report)
    assert leak.site == here("SITE:own-line")
    assert leak.storage_site == here("SITE:storage")
    assert f"a view of storage allocated at {here('SITE:storage')}" in leak.message
    VIEWS.clear()


def log_step(value: torch.Tensor, seen: list[torch.Tensor] = []) -> None:  # noqa: B006 - planted
    seen.append(value)


def test_default_argument() -> None:
    with torchwarden.scope(mode="exact") as s:
        log_step(torch.zeros(7))  # SITE:default
    leak = only_leak(s.report)
    assert leak.holder == "default argument of log_step (seen[0])"
    assert leak.site == here("SITE:default")
    log_step.__defaults__[0].clear()  # type: ignore[index]


def batches_of(n: int) -> Any:
    buffer = torch.empty(n, 3)  # SITE:generator
    for i in range(n):
        yield buffer[i]


def test_frame_of_generator() -> None:
    with torchwarden.scope(mode="exact") as s:
        gen = batches_of(4)
        first = next(gen)
    leak = only_leak(s.report)
    assert leak.holder == "frame of generator batches_of (local buffer)"
    assert leak.site == here("SITE:generator")
    del gen, first
