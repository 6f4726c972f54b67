"""Every block works in a plain PyTorch loop: importing and using it in a fresh interpreter
loads none of torchwarden's runtime, lifecycle, CLI or reporting machinery."""

from __future__ import annotations

import subprocess
import sys

USES = {
    "torchwarden.nn.silu": "m.SiLU()(torch.randn(3)) + m.silu(torch.randn(3))",
    "torchwarden.nn.gated": "m.GatedDepth([torch.nn.Linear(4, 4)], 4)(torch.randn(2, 4)).output",
    "torchwarden.nn.act": "m.AdaptiveComputationTime(3, 5)(torch.randn(2, 3)).ponder_cost",
    "torchwarden.nn.checkpointing": (
        "m.CheckpointedSequential([torch.nn.Linear(4, 4)] * 2)(torch.randn(2, 4, requires_grad=True))"
        ".sum().backward()"
    ),
    "torchwarden.precision": "m.MixedPrecision(torch.optim.SGD([torch.nn.Parameter(torch.ones(1))]), device_type='cpu')",
    "torchwarden.distributed": "m.register",
}
FORBIDDEN = ("runtime", "lifecycle", "cli", "report", "env", "data", "memory", "train")


def test_blocks_import_and_run_alone() -> None:
    # one interpreter for all blocks: the union of what they load must stay clean
    lines = ["import importlib, sys, torch"]
    for module, use in USES.items():
        lines += [f"m = importlib.import_module({module!r})", use]
    lines += [
        "loaded = sorted({n.split('.')[1] for n in sys.modules if n.startswith('torchwarden.')})",
        "print(' '.join(loaded))",
    ]
    code = "\n".join(lines)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert {"nn", "distributed", "precision"} <= loaded
    assert not loaded & set(FORBIDDEN), loaded
