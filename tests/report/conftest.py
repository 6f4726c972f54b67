"""A realistic run record, built fresh for each test so that tests may mutate it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

GiB = 1 << 30

LEAK: dict[str, Any] = {
    "kind": "leak",
    "message": "12 tensors created at train.py:41 are still alive and grow by 3.0 MiB per step.",
    "fix": "Append loss.item() (a float) instead of loss, or detach() what you keep.",
    "holder": "global history[3]",
    "site": "train.py:41",
    "nbytes": 43305472,
    "device": "cuda:0",
    "retains_graph": True,
    "graph_bytes": 1288490188,
    "step": 7,
    "rank": 0,
}
OOM: dict[str, Any] = {
    "kind": "oom",
    "message": "CUDA out of memory at step 3 on cuda:1 while allocating 2.0 GiB.",
    "fix": "Set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True, or lower the batch size.",
    "requested_bytes": 2 * GiB,
    "free_bytes": GiB,
    "reserved_unallocated_bytes": 3 * GiB,
    "largest_free_block_bytes": GiB // 2,
    "verdict": "Fragmentation: reserved memory is free but not contiguous.",
    "snapshot": "oom_snapshot.pickle",
    "top_tensors": [
        {
            "holder": "model.fc.weight.grad",
            "site": "train.py:77",
            "nbytes": GiB,
            "shape": [8192, 32768],
            "dtype": "float32",
        }
    ],
    "step": 3,
    "rank": 1,
}
RULE: dict[str, Any] = {"kind": "rule", "message": "TF32 is off.", "fix": "Turn it on."}


def make_record(*, steps: int = 50, ranks: int = 2, findings: bool = True) -> dict[str, Any]:
    step_rows = [
        {
            "step": s,
            "rank": r,
            "t": 0.5 + s * 0.02,
            "time_s": 0.02 + (s % 7) * 1e-3,
            "memory": {
                "cpu": {"rss": 3 * GiB + s * 4096, "tensor_bytes": None if s % 5 else GiB},
                f"cuda:{r}": {
                    "allocated": GiB + s * 1024,
                    "reserved": 2 * GiB,
                    "peak_allocated": 2 * GiB,
                },
            },
        }
        for r in range(ranks)
        for s in range(1, steps + 1)
    ]
    return {
        "schema": "torchwarden.run/1",
        "name": "example",
        "command": ["python", "train.py", "--lr", "0.1"],
        "status": "ok",
        "exit_code": 0,
        "started_at": "2026-11-21T12:00:00Z",
        "ended_at": "2026-11-21T12:00:12Z",
        "duration_s": 12.5,
        "environment": {
            "python": "3.11.7",
            "platform": "Linux-6.8.0-x86_64",
            "hostname": "gpu-node-07",
            "torch": "2.13.0+cu130",
            "cuda": "13.0",
            "driver": "580.1",
            "gpus": [
                {"index": i, "name": "NVIDIA H100", "memory_total": 80 * GiB} for i in range(ranks)
            ],
            "cuda_visible_devices": None,
        },
        "world_size": ranks,
        "ranks": [
            {"rank": r, "pid": 100 + r, "status": "ok", "exit_code": 0, "steps": steps}
            for r in range(ranks)
        ],
        "steps": step_rows,
        "findings": copy.deepcopy([LEAK, OOM, RULE]) if findings else [],
        "artifacts": {"report": "report.html", "snapshot": None},
        "summary": {
            "steps": steps,
            "median_step_s": 0.023,
            "peak_memory": {"cuda:0": 2 * GiB, "cpu": 3 * GiB},
        },
    }


@pytest.fixture
def record() -> dict[str, Any]:
    return make_record()


@pytest.fixture
def make() -> Callable[..., dict[str, Any]]:
    return make_record
