"""Every part of the resume state round-trips exactly, through files torch loads with weights_only=True."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.distributed.algorithms.ddp_comm_hooks.powerSGD_hook import PowerSGDState
from torch.utils.data import DataLoader

from torchwarden.train import Checkpointer, CheckpointError, ResumableSampler, TrainArgumentError

StatefulDataLoader = pytest.importorskip("torchdata.stateful_dataloader").StatefulDataLoader

DATA = torch.arange(64, dtype=torch.float32).reshape(32, 2)


class Counter:
    """A user extra: anything with state_dict/load_state_dict."""

    def __init__(self) -> None:
        self.seen = 0

    def state_dict(self) -> dict[str, Any]:
        return {"seen": self.seen}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seen = state["seen"]


def _run(seed: int) -> dict[str, Any]:
    """Every kind of object a resumable loop holds, seeded with ``seed``."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    hook = PowerSGDState(process_group=None, start_powerSGD_iter=2, random_seed=seed)
    hook.error_dict[0] = torch.randn(5)
    return {
        "model": model,
        "optimizer": optimizer,
        "scheduler": torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5),
        "scaler": torch.amp.GradScaler("cpu", init_scale=2.0**seed, growth_interval=2),
        "loader": StatefulDataLoader(
            DATA, batch_size=3, shuffle=True, generator=torch.Generator().manual_seed(seed)
        ),
        "comm_hook": hook,
        "extras": {
            "pcg": np.random.default_rng(seed),
            "mt": np.random.Generator(np.random.MT19937(seed)),
            "legacy": np.random.RandomState(seed),
            "torch_gen": torch.Generator().manual_seed(seed),
            "counter": Counter(),
        },
        "rank_extras": {
            "sampler_loader": DataLoader(
                DATA, batch_size=4, sampler=ResumableSampler(DATA, seed=seed)
            ).sampler
        },
    }


def _train(objs: dict[str, Any], batches: Any, steps: int) -> list[Any]:
    """``steps`` steps that touch every object; what they produced, for comparison."""
    out = []
    for _ in range(steps):
        x = next(batches["loader"])
        loss = objs["model"](x).pow(2).mean()
        objs["scaler"].scale(loss).backward()
        objs["scaler"].step(objs["optimizer"])
        objs["scaler"].update()
        objs["optimizer"].zero_grad()
        objs["scheduler"].step()
        objs["comm_hook"].iter += 1
        objs["comm_hook"].error_dict[0] += 1
        objs["extras"]["counter"].seen += 1
        ex = objs["extras"]
        draws = (random.random(), np.random.rand(), torch.rand(1).item(), ex["pcg"].random())
        draws += (
            ex["mt"].random(),
            ex["legacy"].rand(),
            torch.rand(1, generator=ex["torch_gen"]).item(),
        )
        out.append((loss.item(), x.tolist(), next(batches["sampler"]), draws))
    return out


def _iterators(objs: dict[str, Any]) -> dict[str, Any]:
    return {
        "loader": _cycle(objs["loader"]),
        "sampler": iter(objs["rank_extras"]["sampler_loader"]),
    }


def _cycle(loader: Any) -> Any:
    while True:
        yield from loader


def test_every_item_round_trips_exactly(tmp_path: Path) -> None:
    random.seed(0)
    np.random.seed(0)
    objs = _run(seed=1)
    it = _iterators(objs)
    _train(objs, it, steps=5)
    with Checkpointer(tmp_path) as ckpt:
        assert ckpt.resume(**objs) == 0
        ckpt.save(5, epoch=2, metadata={"note": "five"})
    expected = _train(objs, it, steps=6)
    expected_hook = (objs["comm_hook"].iter, objs["comm_hook"].error_dict[0].clone())

    random.seed(99)
    np.random.seed(99)
    fresh = _run(seed=7)  # every object in another state
    with Checkpointer(tmp_path) as ckpt:
        assert ckpt.resume(**fresh) == 5
        assert (ckpt.resumed.epoch, dict(ckpt.resumed.metadata)) == (2, {"note": "five"})
    got = _train(fresh, _iterators(fresh), steps=6)
    assert got == expected  # losses, batches, sampler indices, every generator's draws
    assert (fresh["comm_hook"].iter, fresh["comm_hook"].error_dict[0].tolist()) == (
        expected_hook[0],
        expected_hook[1].tolist(),
    )
    for a, b in zip(objs["model"].state_dict().values(), fresh["model"].state_dict().values()):
        assert torch.equal(a, b)


def test_every_file_loads_with_weights_only(tmp_path: Path) -> None:
    objs = _run(seed=3)
    _train(objs, _iterators(objs), steps=2)
    with Checkpointer(tmp_path) as ckpt:
        ckpt.resume(**objs)
        path = ckpt.save(2)
    pt_files = sorted(path.glob("*.pt"))
    assert [p.name for p in pt_files] == ["rank-00000.pt", "shared.pt"]
    for p in pt_files:
        torch.load(p, weights_only=True)


def test_objects_without_state_dict_are_refused_with_a_fix(tmp_path: Path) -> None:
    with pytest.raises(TrainArgumentError, match="StatefulDataLoader"):
        Checkpointer(tmp_path).resume(loader=DataLoader(DATA))


def test_resume_must_name_the_same_objects(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 2)
    with Checkpointer(tmp_path) as ckpt:
        ckpt.resume(model=model)
        ckpt.save(1)
    with Checkpointer(tmp_path) as ckpt, pytest.raises(CheckpointError, match="same objects"):
        ckpt.resume(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


def test_sampler_resumes_mid_epoch_without_replaying() -> None:
    a = ResumableSampler(10, seed=4, rank=1, world_size=2)
    first = iter(a)
    taken = [next(first) for _ in range(3)]
    b = ResumableSampler(10, seed=4, rank=1, world_size=2)
    b.load_state_dict(a.state_dict())
    assert taken + list(b) == list(ResumableSampler(10, seed=4, rank=1, world_size=2))
    assert list(b) != [] and b.epoch == 1  # the next epoch starts after the end of the last
    with pytest.raises(ValueError, match="same data"):
        ResumableSampler(11, seed=4).load_state_dict(a.state_dict())
