"""Every hook trains a small real task on 2 gloo processes; topk, int8 and PowerSGD resume
from a mid-run checkpoint (``weights_only=True``) in fresh processes bit for bit."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import torch

from torchwarden.examples.ddp_compression import RunSpec, launch

pytestmark = pytest.mark.slow

STEPS, SAVE_AT = 40, 20
TRAINED = ("allreduce", "topk", "int8", "powersgd", "bf16", "fp16")
RESUMED = ("topk", "int8", "powersgd")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp("ddp")
    # small buckets: several per step, so hooks must keep collectives in order across
    # buckets, and the resumed run's first step must replay several saved layouts
    specs = [
        RunSpec(hook=h, out_dir=str(out), steps=STEPS, save_at=SAVE_AT, bucket_cap_mb=0.1)
        for h in TRAINED
    ]
    launch(specs, world=2)
    resumed = [
        replace(s, save_at=None, resume=True, tag=f"{s.hook}-resumed", checkpoint=s.hook)
        for s in specs
        if s.hook in RESUMED
    ]
    launch(resumed, world=2)  # fresh processes: nothing but the checkpoint carries over
    names = [s.name for s in specs + resumed]
    return {
        n: [torch.load(out / f"{n}-rank{r}.pt", weights_only=True) for r in (0, 1)] for n in names
    }


@pytest.mark.parametrize("hook", TRAINED)
def test_each_hook_trains_the_task(runs: dict[str, list[dict[str, Any]]], hook: str) -> None:
    rank0, rank1 = runs[hook]
    for name, value in rank0["params"].items():  # DDP keeps replicas identical
        assert torch.equal(value, rank1["params"][name]), name
    baseline = runs["allreduce"][0]["test_loss"]
    assert rank0["test_loss"] < 0.64, rank0["test_loss"]  # chance is ln 2 = 0.693
    assert rank0["test_loss"] < baseline + 0.05


@pytest.mark.parametrize("hook", RESUMED)
def test_resume_is_bitwise(runs: dict[str, list[dict[str, Any]]], hook: str) -> None:
    for rank in (0, 1):
        whole, resumed = runs[hook][rank], runs[f"{hook}-resumed"][rank]
        assert resumed["losses"] == whole["losses"][SAVE_AT:]
        for name, value in whole["params"].items():
            assert torch.equal(value, resumed["params"][name]), (hook, rank, name)
        assert resumed["bytes_sent"] == whole["bytes_sent"]
        assert resumed["steps_counted"] == whole["steps_counted"] == STEPS


def test_compression_sends_fewer_bytes(runs: dict[str, list[dict[str, Any]]]) -> None:
    sent = {h: runs[h][0]["bytes_sent"] for h in TRAINED}
    assert sent["bf16"] == sent["fp16"] == sent["allreduce"] // 2
    assert sent["int8"] < sent["allreduce"] // 3
    assert sent["topk"] < sent["allreduce"] // 10
    assert sent["powersgd"] < sent["allreduce"] // 2
