"""Scopes around and inside ``torch.compile``d code: no crash, no recompilation, leaks named.

Each case compiles a tiny model, warms it up, then runs the same calls with and without
an exact scope open and counts Dynamo's graphs, recompilations and graph breaks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

import torchwarden
from tests.lifecycle.helpers import site

dynamo = pytest.importorskip("torch._dynamo")
from torch._dynamo.utils import counters  # noqa: E402

HELD: list[torch.Tensor] = []
CASES = [
    ("aot_eager", False, False),
    ("aot_eager", True, True),
    ("inductor", False, False),
    ("inductor", True, True),
    ("aot_eager", False, True),
    ("inductor", True, False),
]


def _compile_counts() -> tuple[int, int, int]:
    stats = counters["stats"]
    breaks = sum(counters["graph_break"].values())
    return stats["unique_graphs"], stats["calls_captured"], breaks


@pytest.fixture(autouse=True)
def _fresh_dynamo() -> Iterator[None]:
    dynamo.reset()
    counters.clear()
    HELD.clear()
    yield
    HELD.clear()
    dynamo.reset()


def _compiled(backend: str, fullgraph: bool, dynamic: bool) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    return model, torch.compile(model, backend=backend, fullgraph=fullgraph, dynamic=dynamic)


def _train_step(cm: nn.Module, opt: torch.optim.Optimizer) -> torch.Tensor:
    loss = cm(torch.randn(4, 8)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


@pytest.mark.parametrize(("backend", "fullgraph", "dynamic"), CASES)
def test_scope_causes_no_recompile_or_graph_break(
    backend: str, fullgraph: bool, dynamic: bool
) -> None:
    model, cm = _compiled(backend, fullgraph, dynamic)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    for _ in range(2):
        _train_step(cm, opt)
    without = _compile_counts()
    for _ in range(2):
        _train_step(cm, opt)
    assert _compile_counts() == without  # warm: plain calls compile nothing more
    with torchwarden.scope(mode="exact") as s:
        for _ in range(2):
            loss = _train_step(cm, opt)
    assert _compile_counts() == without, "torchwarden caused a recompilation or graph break"
    assert s.report.ok, str(s.report)
    assert loss.grad_fn is not None


@pytest.mark.parametrize(("backend", "fullgraph", "dynamic"), CASES[:3])
def test_leak_of_compiled_output_is_attributed(
    backend: str, fullgraph: bool, dynamic: bool
) -> None:
    _model, cm = _compiled(backend, fullgraph, dynamic)
    cm(torch.randn(4, 8))
    before = _compile_counts()
    with torchwarden.scope(mode="exact") as s:
        HELD.append(cm(torch.randn(4, 8)))  # SITE:compiled-out
    assert _compile_counts() == before
    assert len(s.report.leaks) == 1, str(s.report)
    leak = s.report.leaks[0]
    assert leak.holder == f"{__name__}.HELD[0]"
    assert leak.site == site(__file__, "SITE:compiled-out")
    assert leak.retains_graph


def test_scope_opened_before_first_compilation_leaves_no_guard_behind() -> None:
    _model, cm = _compiled("aot_eager", True, False)
    with torchwarden.scope(mode="exact") as s:
        out = cm(torch.randn(4, 8))  # compiled here, while the scope records
    compiled = _compile_counts()
    cm(torch.randn(4, 8))  # the scope is gone: the same graph must serve
    assert _compile_counts() == compiled
    assert s.report.ok and out.shape == (4, 1)


def test_census_skips_compile_tracing_tensors() -> None:
    _, cm = _compiled("aot_eager", False, False)
    cm(torch.randn(4, 8))
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        fake = torch.empty(3, 3)
    live = torchwarden.memory.census.live_tensors()
    assert all(type(t) is not type(fake) for t in live)
    assert torchwarden.memory.census.storage_key(fake) is None


COMPILED_RUN = """\
import sys
import torch
from torch import nn
from torch._dynamo.utils import counters
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
cmodel = torch.compile(model)
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
hist = []
for step in range(30):
    out = cmodel(torch.randn(4, 8))
    loss = out.pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    hist.append(out)
stats = counters["stats"]
print("compiled", stats["unique_graphs"], stats["calls_captured"],
      sum(counters["graph_break"].values()), flush=True)
sys.exit(3)
"""


@pytest.mark.slow
def test_a_compiled_loop_under_run_keeps_its_exit_code_and_graphs(tmp_path: Path) -> None:
    """``torchwarden run`` of a ``torch.compile``d loop (inductor): what ``python`` does, plus the leak."""
    (tmp_path / "train.py").write_text(COMPILED_RUN)
    plain = subprocess.run(
        [sys.executable, "train.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    governed = subprocess.run(
        [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--out", "o", "train.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TORCHWARDEN_EXAM_BUDGET": "1"},
    )  # fmt: skip
    assert plain.returncode == governed.returncode == 3, governed.stderr[-3000:]
    counts = [
        [line for line in p.stdout.splitlines() if line.startswith("compiled ")]
        for p in (plain, governed)
    ]
    assert counts[0] and counts[0] == counts[1], counts  # same graphs, calls, no new break
    record = json.loads((tmp_path / "o" / "run.json").read_text())
    leaks = [f for f in record["findings"] if f["kind"] == "leak"]
    assert [(f["holder"], f["site"]) for f in leaks] == [("global hist", "train.py:11")], leaks
