"""MixedPrecision: parity with float32, skipped non-finite steps, scaler state round trip."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from torchwarden.precision import MixedPrecision, autocast_dtype


def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=g)
    return x, (x[:, :1] * 2 - x[:, 1:2]).tanh()


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))


def train(
    dtype: torch.dtype | None, steps: int = 60
) -> tuple[nn.Module, float, MixedPrecision | None]:
    net, (x, y) = model(), data()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    mp = MixedPrecision(opt, device_type="cpu", dtype=dtype, max_grad_norm=1.0) if dtype else None
    for step in range(steps):
        xb, yb = x[step % 8 * 32 :][:32], y[step % 8 * 32 :][:32]
        if mp is None:
            loss = nn.functional.mse_loss(net(xb), yb)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
        else:
            with mp.autocast():
                loss = nn.functional.mse_loss(net(xb).float(), yb)
            assert not mp.step(loss).skipped
    with torch.no_grad():
        final = nn.functional.mse_loss(net(x), y).item()
    return net, final, mp


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_parity_with_float32(dtype: torch.dtype) -> None:
    ref, ref_loss, _ = train(None)
    net, loss, mp = train(dtype)
    assert mp is not None and mp.steps == 60 and mp.skipped_steps == 0
    assert loss < 0.5 * train(None, steps=0)[1]  # it learnt
    assert abs(loss - ref_loss) < 0.1 * ref_loss
    for a, b in zip(ref.parameters(), net.parameters()):
        torch.testing.assert_close(a, b, atol=0.05, rtol=0.05)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_non_finite_gradients_skip_the_step(dtype: torch.dtype) -> None:
    net = model()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    mp = MixedPrecision(opt, device_type="cpu", dtype=dtype, init_scale=1024.0)
    before = [p.detach().clone() for p in net.parameters()]
    with mp.autocast():
        loss = net(torch.randn(4, 8)).sum() * float("inf")
    outcome = mp.step(loss)
    assert outcome.skipped and mp.skipped_steps == 1 and mp.steps == 1
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert all(p.grad is None for p in net.parameters())
    if dtype == torch.float16:
        assert outcome.scale == 1024.0 and mp.scaler.get_scale() == 512.0
    with mp.autocast():
        loss = net(torch.randn(4, 8)).sum()
    assert not mp.step(loss).skipped
    assert not all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_clipping_sees_unscaled_gradients() -> None:
    net = model()
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    mp = MixedPrecision(opt, device_type="cpu", dtype=torch.float16, max_grad_norm=1e-3)
    x = torch.randn(16, 8)
    with mp.autocast():
        loss = net(x).float().pow(2).mean()
    outcome = mp.step(loss)
    loss_ref = net(x).pow(2).mean()
    grads = torch.autograd.grad(loss_ref, list(net.parameters()))
    true_norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item()
    assert outcome.grad_norm == pytest.approx(true_norm, rel=0.05)  # not 65536x larger


def test_state_round_trips_with_weights_only() -> None:
    net = model()
    mp = MixedPrecision(torch.optim.SGD(net.parameters()), device_type="cpu", dtype=torch.float16)
    with mp.autocast():
        mp.step(net(torch.randn(2, 8)).sum() * float("nan"))
    buf = io.BytesIO()
    torch.save(mp.state_dict(), buf)
    buf.seek(0)
    fresh = MixedPrecision(
        torch.optim.SGD(net.parameters()), device_type="cpu", dtype=torch.float16
    )
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    assert fresh.scaler.get_scale() == mp.scaler.get_scale() == 32768.0
    assert (fresh.steps, fresh.skipped_steps) == (1, 1)
    with pytest.raises(ValueError, match=r"dtype=torch\.float16"):
        MixedPrecision(torch.optim.SGD(net.parameters()), device_type="cpu").load_state_dict(
            mp.state_dict()
        )


def test_bf16_is_chosen_where_supported() -> None:
    assert autocast_dtype("cpu") == torch.bfloat16
    mp = MixedPrecision(torch.optim.SGD(model().parameters()), device_type="cpu")
    assert mp.dtype == torch.bfloat16 and not mp.scaler.is_enabled()
