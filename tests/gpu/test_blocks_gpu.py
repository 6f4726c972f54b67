"""The training blocks on real GPUs: fp16 with GradScaler, bf16, checkpointing memory,
compiled SiLU/ACT with inductor, and the DDP hooks over NCCL on two GPUs (parity of the
replicas and bitwise resume).

Needs CUDA; the NCCL tests need two devices. Every test is skipped cleanly without them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from torchwarden.examples.ddp_compression import RunSpec, launch
from torchwarden.nn import (
    AdaptiveComputationTime,
    CheckpointedSequential,
    GatedDepth,
    SiLU,
)
from torchwarden.precision import MixedPrecision, autocast_dtype

pytestmark = [pytest.mark.gpu]
two_gpus = pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
CUDA = torch.device("cuda", 0)


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 256), nn.GELU(), nn.Linear(256, 1)).to(CUDA)


def train(mp_dtype: torch.dtype | None, steps: int = 80) -> tuple[float, MixedPrecision | None]:
    net = small_model()
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(512, 32, generator=g).to(CUDA)
    y = (x[:, :1] - x[:, 1:2]).tanh()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    mp = (
        MixedPrecision(opt, device_type="cuda", dtype=mp_dtype, max_grad_norm=1.0)
        if mp_dtype
        else None
    )
    for step in range(steps):
        xb, yb = x[step % 8 * 64 :][:64], y[step % 8 * 64 :][:64]
        if mp is None:
            nn.functional.mse_loss(net(xb), yb).backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
            continue
        with mp.autocast():
            loss = nn.functional.mse_loss(net(xb).float(), yb)
        mp.step(loss)
    with torch.no_grad():
        return nn.functional.mse_loss(net(x), y).item(), mp


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_mixed_precision_parity_on_cuda(dtype: torch.dtype) -> None:
    ref, _ = train(None)
    loss, mp = train(dtype)
    assert mp is not None and mp.skipped_steps <= 1  # fp16 may back off its first scale
    assert mp.scaler.is_enabled() == (dtype == torch.float16)
    assert abs(loss - ref) < 0.1 * ref


def test_fp16_overflow_is_skipped_and_counted_on_cuda() -> None:
    net = small_model()
    mp = MixedPrecision(torch.optim.SGD(net.parameters(), lr=0.1), dtype=torch.float16)
    before = [p.detach().clone() for p in net.parameters()]
    with mp.autocast():
        loss = net(torch.full((4, 32), 1e4, device=CUDA)).float().sum() * 1e30
    outcome = mp.step(loss)
    assert outcome.skipped and mp.skipped_steps == 1
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert mp.scaler.get_scale() == outcome.scale / 2


def test_bf16_is_picked_on_this_gpu() -> None:
    assert autocast_dtype("cuda") == (
        torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    )


def test_checkpointing_lowers_peak_memory_and_keeps_gradients() -> None:
    torch.manual_seed(0)
    blocks = [
        nn.Sequential(nn.Linear(1024, 4096), nn.GELU(), nn.Dropout(0.1), nn.Linear(4096, 1024))
        for _ in range(8)
    ]
    plain, ckpt = nn.Sequential(*blocks).to(CUDA), CheckpointedSequential(blocks, segments=2)
    x = torch.randn(2048, 1024, device=CUDA)

    def peak_and_grads(model: nn.Module) -> tuple[int, list[torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        torch.manual_seed(1)
        model(x).square().mean().backward()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base, [
            p.grad.clone() for p in model.parameters()
        ]

    plain_peak, plain_grads = peak_and_grads(plain)
    ckpt_peak, ckpt_grads = peak_and_grads(ckpt)
    # the peak also holds every gradient (a third of it here); activations drop far more
    assert ckpt_peak < 0.8 * plain_peak, (ckpt_peak, plain_peak)
    for a, b in zip(plain_grads, ckpt_grads):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # same kernels, same masks


@pytest.mark.parametrize("kind", ["silu", "act", "gated"])
def test_blocks_compile_with_inductor_in_one_graph(kind: str) -> None:
    torch._dynamo.reset()
    torch.manual_seed(0)
    model: nn.Module
    if kind == "silu":
        model, x = nn.Sequential(nn.Linear(64, 64), SiLU()), torch.randn(8, 64)
    elif kind == "act":
        model, x = AdaptiveComputationTime(16, 32, max_steps=5), torch.randn(8, 16)
    else:
        model, x = GatedDepth([nn.Linear(64, 64) for _ in range(3)], 64), torch.randn(8, 64)
    model, x = model.to(CUDA), x.to(CUDA)
    compiled = torch.compile(model, fullgraph=True)
    got, want = compiled(x), model(x)
    for a, b in zip(
        got if isinstance(got, tuple) else [got], want if isinstance(want, tuple) else [want]
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@two_gpus
def test_hooks_over_nccl_train_and_resume_bitwise(tmp_path: Path) -> None:
    hooks, steps, save_at = ("allreduce", "bf16", "topk", "int8", "powersgd"), 40, 20
    specs = [
        RunSpec(hook=h, out_dir=str(tmp_path), steps=steps, save_at=save_at, bucket_cap_mb=0.1)
        for h in hooks
    ]
    launch(specs, world=2, backend="nccl")
    resumed = [
        replace(s, save_at=None, resume=True, tag=f"{s.hook}-resumed", checkpoint=s.hook)
        for s in specs
        if s.hook in ("topk", "int8", "powersgd")
    ]
    launch(resumed, world=2, backend="nccl")

    def load(name: str, rank: int) -> dict[str, Any]:
        out: dict[str, Any] = torch.load(tmp_path / f"{name}-rank{rank}.pt", weights_only=True)
        return out

    baseline = load("allreduce", 0)["test_loss"]
    for h in hooks:
        r0, r1 = load(h, 0), load(h, 1)
        assert all(torch.equal(v, r1["params"][k]) for k, v in r0["params"].items()), h
        assert r0["test_loss"] < min(0.64, baseline + 0.08), (h, r0["test_loss"])
    for spec in resumed:
        for rank in (0, 1):
            whole, again = load(spec.hook, rank), load(spec.name, rank)
            assert again["losses"] == whole["losses"][save_at:], spec.hook
            for k, v in whole["params"].items():
                assert torch.equal(v, again["params"][k]), (spec.hook, rank, k)
