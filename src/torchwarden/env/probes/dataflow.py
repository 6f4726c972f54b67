"""Probe bodies that move data: NumPy sharing, checkpoints, DataLoader, collectives, copies.

They run in a forked child (see ``zygote``); each returns the probe result dict or raises.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchwarden.env.probes.compute import devices, result
from torchwarden.errors import ProbeError

__all__ = ["bandwidth", "checkpoint", "dataloader", "distributed", "numpy_interop"]

BANDWIDTH_BYTES = 256 << 20  # large enough that launch latency is noise


def numpy_interop() -> dict[str, Any]:
    """Zero-copy is proven by mutation: a write on one side must show on the other."""
    a = np.arange(8, dtype=np.float32)
    t = torch.from_numpy(a)
    a[0] = 42.0
    t[1] = 7.0
    if t[0].item() != 42.0 or a[1] != 7.0 or not np.shares_memory(a, t.numpy()):
        raise ProbeError("torch.from_numpy / .numpy() copied instead of sharing memory")
    for dev in devices():
        w = torch.ones(4, device=dev, requires_grad=True)
        back = (w * 3).detach().cpu().numpy()
        if back.dtype != np.float32 or back.tolist() != [3.0] * 4:
            raise ProbeError(f"{dev}: .detach().cpu().numpy() gave {back!r}")
    return result(
        "ok", f"zero-copy both ways; .detach().cpu().numpy() on {len(devices())} device(s)"
    )


def checkpoint() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        for dev in devices():
            model = torch.nn.Linear(16, 4).to(dev)
            opt = torch.optim.AdamW(model.parameters())
            model(torch.randn(2, 16, device=dev)).sum().backward()
            opt.step()
            path = Path(tmp) / f"ckpt-{dev.type}.pt"
            torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "step": 1}, path)
            state = torch.load(path, map_location=dev, weights_only=True)
            for name, value in model.state_dict().items():
                if not torch.equal(state["model"][name], value):
                    raise ProbeError(f"{dev}: {name} changed in the round trip")
            torch.optim.AdamW(model.parameters()).load_state_dict(state["optim"])
    return result("ok", f"saved and loaded with weights_only=True on {len(devices())} device(s)")


class _Squares(torch.utils.data.Dataset[torch.Tensor]):
    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.full((256,), float(i * i))


def dataloader() -> dict[str, Any]:
    pin = torch.cuda.is_available()  # pinning needs an accelerator; on CPU it only warns
    loader = torch.utils.data.DataLoader(_Squares(), batch_size=8, num_workers=2, pin_memory=pin)
    start = time.perf_counter()
    seen = torch.cat([batch[:, 0] for batch in loader])
    expected = torch.arange(64, dtype=torch.float32) ** 2
    if not torch.equal(seen, expected):
        raise ProbeError("DataLoader workers returned wrong or reordered batches")
    return result("ok", f"2 workers, pin_memory={pin}, 8 batches",
                  pin_memory=pin, seconds=round(time.perf_counter() - start, 3))  # fmt: skip


def distributed() -> dict[str, Any]:
    import torch.distributed as dist

    backends = ["gloo"] + (
        ["nccl"] if torch.cuda.is_available() and dist.is_nccl_available() else []
    )
    for backend in backends:
        dev = torch.device("cuda", 0) if backend == "nccl" else torch.device("cpu")
        with tempfile.TemporaryDirectory() as tmp:
            # a file store needs no free port: probes must not collide with the user's jobs
            store = f"file://{os.path.join(tmp, 'store')}"
            dist.init_process_group(
                backend,
                init_method=store,
                rank=0,
                world_size=1,
                device_id=dev if backend == "nccl" else None,
            )
            try:
                t = torch.full((4,), 3.0, device=dev)
                dist.all_reduce(t)
                if t.tolist() != [3.0] * 4:
                    raise ProbeError(f"{backend}: all_reduce gave {t.tolist()}")
            finally:
                dist.destroy_process_group()
    return result("ok", f"init + all_reduce with {', '.join(backends)}", backends=backends)


def bandwidth() -> dict[str, Any]:
    """GB/s (10^9 bytes per second) host->device and device->host, pinned and pageable."""
    gpus = devices()[1:]
    if not gpus:
        return result("skip", "no CUDA device visible to torch")
    figures: dict[str, dict[str, float]] = {}
    for dev in gpus:
        pageable = torch.empty(BANDWIDTH_BYTES, dtype=torch.uint8).fill_(1)
        pinned = pageable.pin_memory()
        on_device = torch.empty(BANDWIDTH_BYTES, dtype=torch.uint8, device=dev)
        figures[str(dev)] = {
            "h2d_pinned": _copy_gbps(on_device, pinned),
            "h2d_pageable": _copy_gbps(on_device, pageable),
            "d2h_pinned": _copy_gbps(pinned, on_device),
            "d2h_pageable": _copy_gbps(pageable, on_device),
        }
    first = figures[str(gpus[0])]
    return result("ok", f"{gpus[0]}: h2d pinned {first['h2d_pinned']} GB/s, pageable {first['h2d_pageable']} GB/s",
                  gbps=figures)  # fmt: skip


def _copy_gbps(dst: torch.Tensor, src: torch.Tensor, repeats: int = 5) -> float:
    gpu = dst.device if dst.is_cuda else src.device  # synchronize() alone waits on cuda:0 only
    dst.copy_(src)  # warm-up: first touch and driver mapping are not bandwidth
    torch.cuda.synchronize(gpu)
    start = time.perf_counter()
    for _ in range(repeats):
        dst.copy_(src, non_blocking=src.is_pinned() or dst.is_pinned())
    torch.cuda.synchronize(gpu)
    return round(repeats * src.numel() / (time.perf_counter() - start) / 1e9, 1)
