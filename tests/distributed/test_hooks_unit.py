"""Hook state and registration, in one process (a gloo group of one)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import torch
import torch.distributed as dist
from torch import nn

from torchwarden.distributed import (
    HOOKS,
    CommHookError,
    CommHookStateError,
    PowerSGDHook,
    TopKHook,
    register,
)


@pytest.fixture
def group(tmp_path: object) -> Iterator[None]:
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def ddp() -> nn.parallel.DistributedDataParallel:
    torch.manual_seed(0)
    return nn.parallel.DistributedDataParallel(nn.Sequential(nn.Linear(8, 16), nn.Linear(16, 2)))


def train(model: nn.Module, steps: int) -> None:
    for i in range(steps):
        x = torch.randn(4, 8, generator=torch.Generator().manual_seed(i))
        model.zero_grad()
        model(x).square().sum().backward()


def roundtrip(state: dict[str, object]) -> dict[str, object]:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    loaded: dict[str, object] = torch.load(buf, weights_only=True)
    return loaded


@pytest.mark.usefixtures("group")
@pytest.mark.parametrize("kind", sorted(HOOKS))
def test_state_loads_with_weights_only(kind: str) -> None:
    model = ddp()
    hook = register(model, kind)
    train(model, 4)
    state = roundtrip(hook.state_dict())
    assert state["hook"] == kind and state["steps"] == 4
    fresh = register(ddp(), kind)
    fresh.load_state_dict(state)
    assert fresh.steps == 4
    again = fresh.state_dict()
    for key, value in state.items():
        if isinstance(value, dict) and key != "rng":
            assert sorted(value) == sorted(again[key]), key


@pytest.mark.usefixtures("group")
def test_topk_alone_is_exact_at_ratio_one() -> None:
    plain, hooked = ddp(), ddp()
    register(hooked, "topk", ratio=1.0)
    train(plain, 1)
    train(hooked, 1)
    for a, b in zip(plain.parameters(), hooked.parameters()):
        assert torch.equal(a.grad, b.grad)


@pytest.mark.usefixtures("group")
def test_int8_carries_the_rounding_error() -> None:
    model = ddp()
    hook = register(model, "int8")
    train(model, 1)
    total = {n: p.grad.flatten() + hook.residuals[n] for n, p in model.module.named_parameters()}
    model.zero_grad()
    exact = ddp()
    train(exact, 1)
    for n, p in exact.module.named_parameters():
        torch.testing.assert_close(total[n], p.grad.flatten(), rtol=1e-6, atol=1e-6)


@pytest.mark.usefixtures("group")
def test_loading_another_hooks_state_says_how_to_fix() -> None:
    model = ddp()
    topk = register(model, "topk")
    train(model, 1)
    with pytest.raises(CommHookStateError, match="register the same hook"):
        register(ddp(), "int8").load_state_dict(topk.state_dict())


@pytest.mark.usefixtures("group")
def test_loading_into_another_model_is_refused() -> None:
    model = ddp()
    hook = register(model, "topk")
    train(model, 1)
    other = nn.parallel.DistributedDataParallel(nn.Sequential(nn.Linear(8, 2)))
    with pytest.raises(CommHookStateError, match="same model architecture"):
        register(other, "topk").load_state_dict(hook.state_dict())


@pytest.mark.usefixtures("group")
def test_register_rejects_bad_input() -> None:
    with pytest.raises(CommHookError, match="choose one of"):
        register(ddp(), "zip")
    with pytest.raises(CommHookError, match="wrap it first"):
        register(nn.Linear(2, 2), "topk")  # type: ignore[arg-type]
    with pytest.raises(CommHookError, match="ratio must be"):
        register(ddp(), "topk", ratio=0.0)
    with pytest.raises(CommHookError, match="does not take"):
        register(ddp(), "int8", ratio=0.5)
    with pytest.raises(CommHookStateError, match="not registered on a model yet"):
        TopKHook().load_state_dict(
            {
                "hook": "topk",
                "rank": 0,
                "world_size": 1,
                "steps": 0,
                "bytes_sent": 0,
                "residuals": {"w": torch.zeros(1)},
            }
        )
    with pytest.raises(CommHookError, match="leave it False"):
        PowerSGDHook(None, batch_tensors_with_same_shape=True)


def bucketed(cap_mb: float | None) -> nn.parallel.DistributedDataParallel:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.Linear(256, 64), nn.Linear(64, 2))
    return nn.parallel.DistributedDataParallel(model, bucket_cap_mb=cap_mb)


def make_inputs(i: int) -> torch.Tensor:
    return torch.randn(4, 64, generator=torch.Generator().manual_seed(i))


@pytest.mark.usefixtures("group")
def test_powersgd_state_moves_to_another_bucket_layout() -> None:
    small = bucketed(0.05)  # several buckets
    hook = register(small, "powersgd", start_powerSGD_iter=2)
    for i in range(4):
        small.zero_grad()
        small(make_inputs(i)).square().sum().backward()
    state = roundtrip(hook.state_dict())
    assert len(state["buckets"]) > 1  # type: ignore[arg-type]
    one = bucketed(None)  # one bucket: every saved piece must be re-laid out into it
    one.module.load_state_dict(small.module.state_dict())
    moved = register(one, "powersgd", start_powerSGD_iter=2)
    moved.load_state_dict(state)
    for i in range(4, 7):
        one.zero_grad()
        one(make_inputs(i)).square().sum().backward()
    again = moved.state_dict()
    assert again["iter"] == 7
    assert len(again["buckets"]) == 1  # replayed the saved buckets, then re-laid out
    for kind in ("error", "p", "q"):
        assert sorted(again[kind]) == sorted(state[kind])  # type: ignore[arg-type]
