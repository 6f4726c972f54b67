"""Probe bodies that compute: kernels, a Transformer, torch.compile, AMP, autograd.

They run in a forked child (see ``zygote``); each returns the probe result dict or raises.
Sizes are tiny on purpose: a probe proves that a path works, it does not benchmark it.
Shape legend: B batch, S sequence length, D model width.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from torchwarden.errors import ProbeError
from torchwarden.nn import PositionalEncoding

__all__ = [
    "amp",
    "compile_lengths",
    "devices",
    "gradcheck",
    "kernel_launch",
    "launch",
    "transformer",
]

D_MODEL = 32
LENGTHS = (8, 12, 16, 24)


def devices() -> list[torch.device]:
    return [torch.device("cpu")] + [
        torch.device("cuda", i) for i in range(torch.cuda.device_count())
    ]


def result(status: str, message: str, **details: Any) -> dict[str, Any]:
    return {"status": status, "message": message, "details": details}


def kernel_launch() -> dict[str, Any]:
    gpus = devices()[1:]
    if not gpus:
        return result("skip", "no CUDA device visible to torch")
    for dev in gpus:
        launch(dev)
    return result("ok", f"kernels ran on {len(gpus)} GPU(s)", devices=[str(d) for d in gpus])


def launch(dev: torch.device) -> None:
    """An elementwise kernel, a reduction and a matmul, each checked against exact or CPU values."""
    n = 1 << 16
    total = int((torch.arange(n, device=dev) * 2).sum().item())  # int64: exact; .item() syncs
    if total != n * (n - 1):
        raise ProbeError(f"{dev}: sum gave {total}, expected {n * (n - 1)}")
    a = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    on_dev = (a.to(dev) @ a.to(dev)).cpu()
    if not torch.allclose(on_dev, a @ a, atol=1e-3, rtol=1e-3):
        raise ProbeError(
            f"{dev}: matmul differs from the CPU by {(on_dev - a @ a).abs().max():.3g}"
        )


def _model(dev: torch.device) -> nn.Module:
    layer = nn.TransformerEncoderLayer(
        D_MODEL, nhead=4, dim_feedforward=64, dropout=0.0, batch_first=True
    )
    encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    return nn.Sequential(PositionalEncoding(D_MODEL, max_len=64), encoder).to(dev)


def transformer() -> dict[str, Any]:
    for dev in devices():
        torch.manual_seed(0)
        model = _model(dev)
        x = torch.randn(2, 16, D_MODEL, device=dev)  # (B, S, D)
        model(x).square().mean().backward()
        grads = [p.grad for p in model.parameters()]
        if any(g is None or not bool(torch.isfinite(g).all()) for g in grads):
            raise ProbeError(f"{dev}: missing or non-finite gradients")
    return result("ok", f"forward and backward on {len(devices())} device(s)")


def compile_lengths() -> dict[str, Any]:
    """One dynamic graph should serve every length after the first: count compilations."""
    import torch._dynamo

    dev = devices()[min(1, len(devices()) - 1)]  # the first GPU if any: that is where it matters
    torch._dynamo.reset()
    model = nn.Sequential(
        PositionalEncoding(D_MODEL, max_len=64), nn.Linear(D_MODEL, D_MODEL), nn.GELU()
    ).to(dev)
    compiled = torch.compile(model, fullgraph=True)
    frames = torch._dynamo.utils.counters["stats"]
    for length in LENGTHS:
        x = torch.randn(2, length, D_MODEL, device=dev)
        if not torch.allclose(compiled(x), model(x), atol=1e-4, rtol=1e-4):
            raise ProbeError(f"compiled output differs from eager at length {length}")
    count = int(frames["unique_graphs"])
    status = "ok" if count <= 2 else "warn"
    return result(status, f"{count} compilation(s) for {len(LENGTHS)} lengths on {dev}",
                  compilations=count, lengths=list(LENGTHS), device=str(dev))  # fmt: skip


def amp() -> dict[str, Any]:
    done: list[str] = []
    for dev in devices():
        model = nn.Linear(D_MODEL, D_MODEL).to(dev)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        x = torch.randn(8, D_MODEL, device=dev)
        if dev.type == "cpu" or torch.cuda.is_bf16_supported():
            with torch.autocast(dev.type, dtype=torch.bfloat16):
                y = model(x)
            if y.dtype != torch.bfloat16:
                raise ProbeError(f"{dev}: bf16 autocast produced {y.dtype}")
            done.append(f"{dev} bf16")
        scaler = torch.amp.GradScaler(dev.type)
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(dev.type, dtype=torch.float16):
                loss = model(x).float().square().mean()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        if not torch.isfinite(loss) or scaler.get_scale() <= 0:
            raise ProbeError(f"{dev}: fp16 + GradScaler gave loss {loss.item()}")
        done.append(f"{dev} fp16+GradScaler")
    return result("ok", ", ".join(done))


class _ScaledTanh(torch.autograd.Function):
    """y = a * tanh(x) with a hand-written backward, the kind users write and get wrong."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        t = torch.tanh(x)
        ctx.save_for_backward(t, a)
        return a * t

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t, a = ctx.saved_tensors
        return grad * a * (1 - t * t), (grad * t).sum().reshape(a.shape)


def gradcheck() -> dict[str, Any]:
    for dev in devices():
        x = torch.randn(6, dtype=torch.float64, device=dev, requires_grad=True)
        a = torch.tensor([1.5], dtype=torch.float64, device=dev, requires_grad=True)
        if not torch.autograd.gradcheck(_ScaledTanh.apply, (x, a), raise_exception=True):
            raise ProbeError(f"{dev}: gradcheck failed")
    return result("ok", f"gradcheck passed on {len(devices())} device(s)")
