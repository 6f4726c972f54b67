"""Behavioural probes: small real workloads, each run in its own forked process with a timeout.

This module only names the probes (no torch import); their bodies live in
:mod:`~torchwarden.env.probes.compute` and :mod:`~torchwarden.env.probes.dataflow`, and
:mod:`~torchwarden.env.probes.runner` runs them. A probe body returns
``{"status": "ok" | "warn" | "skip", "message": str, "details": {...}}`` or raises; raising,
crashing, or hanging past its timeout all read as ``"fail"``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torchwarden.errors import EnvArgumentError

__all__ = ["PROBES", "Probe", "select"]

_C = "torchwarden.env.probes.compute"
_D = "torchwarden.env.probes.dataflow"


@dataclass(frozen=True)
class Probe:
    name: str
    target: str  # "package.module:function" or "/path/to/file.py:function"
    title: str
    fix: str  # what to try when it fails
    quick: bool = True  # part of `doctor --quick`
    timeout_s: float = 60.0
    exclusive: bool = False  # runs alone, e.g. because it measures bandwidth

    def __post_init__(self) -> None:
        if ":" not in self.target or self.timeout_s <= 0:
            raise EnvArgumentError(
                f"Probe {self.name!r} needs target 'module:function' and timeout_s > 0, "
                f"got target={self.target!r}, timeout_s={self.timeout_s}"
            )


PROBES: tuple[Probe, ...] = (
    Probe("kernel", f"{_C}:kernel_launch", "kernel launch on every GPU",
          "check the driver and arch-list rules above; run nvidia-smi"),
    Probe("transformer", f"{_C}:transformer", "PositionalEncoding + TransformerEncoder fwd/bwd",
          "reinstall torch; if only a GPU fails, check the arch-list rule"),
    Probe("amp", f"{_C}:amp", "bf16 autocast, fp16 autocast + GradScaler",
          "bf16 needs compute capability >= 8.0; use fp16 with GradScaler on older GPUs"),
    Probe("gradcheck", f"{_C}:gradcheck", "custom autograd.Function passes gradcheck",
          "reinstall torch; a failing gradcheck on a stock build is a numerics bug"),
    Probe("numpy", f"{_D}:numpy_interop", "NumPy <-> torch zero-copy and .cpu().numpy()",
          'see the numpy-abi rule: pip install "numpy<2" or upgrade torch'),
    Probe("checkpoint", f"{_D}:checkpoint", "checkpoint round trip, weights_only=True",
          "check disk space in the temp dir (TMPDIR) and the torch version of the writer"),
    Probe("compile", f"{_C}:compile_lengths", "torch.compile(fullgraph=True) over 4 lengths",
          "see the toolchain and triton rules: apt-get install build-essential python3-dev",
          quick=False, timeout_s=240.0),
    Probe("dataloader", f"{_D}:dataloader", "DataLoader, 2 workers, pin_memory",
          "enlarge /dev/shm (docker run --shm-size=16g or --ipc=host)", quick=False),
    Probe("distributed", f"{_D}:distributed", "single-process init + all-reduce (gloo, nccl)",
          "check NCCL_* variables and that /tmp is writable", quick=False, timeout_s=90.0),
    Probe("bandwidth", f"{_D}:bandwidth", "host <-> device copy bandwidth, pinned and pageable",
          "check the PCIe link (gpus table) and that the GPU sits in an x16 slot",
          quick=False, exclusive=True),
)  # fmt: skip


def select(quick: bool = False, names: tuple[str, ...] = ()) -> tuple[list[Probe], list[Probe]]:
    """Split ``PROBES`` into (to run, skipped) for ``--quick`` and ``--probe NAME``."""
    unknown = set(names) - {p.name for p in PROBES}
    if unknown:
        raise EnvArgumentError(
            f"unknown probe(s) {sorted(unknown)}; choose from {[p.name for p in PROBES]}"
        )
    run = [p for p in PROBES if (not names or p.name in names) and (p.quick or not quick)]
    return run, [p for p in PROBES if p not in run]
