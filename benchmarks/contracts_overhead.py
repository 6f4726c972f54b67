"""Per-call cost of a contract: checked vs unchecked vs checks switched off.

Three forwards, measured in one process and interleaved block by block so that clock
drift and the neighbours' load hit every side alike:

    boundary   a forward that does almost nothing: the checks' own cost per call
               (three inputs with named dimensions, a two-field ModelOutput)
    model      the bundled example Transformer's inference forward, `checked()`
    compiled   the boundary forward under torch.compile, in steady state: each switch
               position (checked, off, `eager-only` = `enable(compiled=False)`) is
               measured in its own phase against the unchecked forward, after a
               dynamo reset, so that no call pays for another position's cache entry

Each side is timed over blocks of calls; the figure is the median per-call time over
blocks. ``checked - unchecked`` is what a contract costs; ``off - unchecked`` is what
the switch leaves behind.

    python benchmarks/contracts_overhead.py                       # CPU
    python benchmarks/contracts_overhead.py --device cuda --out benchmarks/results/DIR
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).parent))
from _common import describe_device, models, write_result

import torchwarden.contracts as contracts

Call = Callable[[], Any]


class Output(contracts.ModelOutput):
    hidden: Annotated[Tensor, "float[batch seq dim]"]
    logits: Annotated[Tensor, "float[batch seq]"]


class Boundary(nn.Module):
    """Almost no work: what is measured is the call and its checks."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: Tensor, mask: Tensor, ids: Tensor) -> Output:
        return Output(x, mask)


BOUNDARY_SPEC = {
    "x": "float[batch seq dim]",
    "mask": "float[batch seq]",
    "ids": "int64[batch seq]",
    "returns": Output,
}


def per_call(fn: Call, device: torch.device, calls: int) -> tuple[float, float]:
    """(wall, this process's CPU) seconds per call over one block of ``calls`` calls.

    CPU time is the steadier figure on a shared CPU machine: the neighbours' load
    stretches wall time, not the work this process does."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / calls, (time.process_time() - c0) / calls


Side = tuple[Call, bool, bool]  # the call, checks on, checks traced by torch.compile


def interleaved(
    sides: dict[str, Side], device: torch.device, blocks: int, calls: int
) -> dict[str, Any]:
    """Median per-call seconds of each side, each run with its switch positions."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for _ in range(3):  # warm-up: allocator, caches, compiled graphs for both switch positions
        for fn, on, traced in sides.values():
            contracts.enable(on, compiled=traced)
            per_call(fn, device, calls)
    for _ in range(blocks):
        for name, (fn, on, traced) in sides.items():
            contracts.enable(on, compiled=traced)
            samples[name].append(per_call(fn, device, calls))
    contracts.enable(True, compiled=True)
    medians = {name: statistics.median(w for w, _ in s) for name, s in samples.items()}
    cpu = {name: statistics.median(c for _, c in s) for name, s in samples.items()}
    return {"median_s": medians, "cpu_median_s": cpu, "blocks": blocks, "calls_per_block": calls}


def boundary_sides(device: torch.device, compiled: bool) -> dict[str, Side]:
    plain = Boundary().to(device)
    checked = contracts.checked(Boundary().to(device), **BOUNDARY_SPEC)
    if compiled:
        plain = torch.compile(plain, backend="eager", fullgraph=True)  # type: ignore[assignment]
        checked = torch.compile(checked, backend="eager", fullgraph=True)  # type: ignore[assignment]
    x, mask = torch.randn(8, 16, 32, device=device), torch.ones(8, 16, device=device)
    ids = torch.zeros(8, 16, dtype=torch.int64, device=device)
    return {
        "unchecked": (lambda: plain(x, mask, ids), True, True),
        "checked": (lambda: checked(x, mask, ids), True, True),
        "off": (lambda: checked(x, mask, ids), False, True),
        "eager-only": (lambda: checked(x, mask, ids), True, False),
    }


def compiled_phases(device: torch.device, blocks: int, calls: int) -> dict[str, Any]:
    """Each switch position against the unchecked forward, one phase each."""
    medians: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for position in ("checked", "off", "eager-only"):
        torch._dynamo.reset()
        sides = boundary_sides(device, True)
        phase = interleaved(
            {"unchecked": sides["unchecked"], position: sides[position]}, device, blocks, calls
        )
        medians[position] = phase["median_s"][position] - phase["median_s"]["unchecked"]
        cpu[position] = phase["cpu_median_s"][position] - phase["cpu_median_s"]["unchecked"]
        medians.setdefault("unchecked", phase["median_s"]["unchecked"])
    return {"extra_wall_s": medians, "extra_cpu_s": cpu, "blocks": blocks, "calls_per_block": calls}


def model_sides(device: torch.device) -> dict[str, Side]:
    from torchwarden.examples.transformer import SequenceClassifier

    cfg = models()["example"]
    torch.manual_seed(0)
    plain = SequenceClassifier(cfg).to(device).eval()
    checked = contracts.checked(
        SequenceClassifier(cfg).to(device).eval(),
        tokens="int64[batch seq]",
        returns="float[batch 2]",
    )
    tokens = torch.randint(0, cfg.vocab, (cfg.batch_size, cfg.seq_len), device=device)

    def run(m: nn.Module) -> Call:
        def call() -> Any:
            with torch.no_grad():
                return m(tokens)

        return call

    return {
        "unchecked": (run(plain), True, True),
        "checked": (run(checked), True, True),
        "off": (run(checked), False, True),
    }


def _line(name: str, r: dict[str, Any]) -> str:
    m, c = r["median_s"], r["cpu_median_s"]
    return (
        f"{name:9s} unchecked {m['unchecked'] * 1e6:9.2f} us  checked {m['checked'] * 1e6:9.2f} us  "
        f"off {m['off'] * 1e6:9.2f} us  | contract {(m['checked'] - m['unchecked']) * 1e6:+8.2f} us/call "
        f"({100 * (m['checked'] / m['unchecked'] - 1):+.1f}%)  switched off "
        f"{(m['off'] - m['unchecked']) * 1e6:+6.2f} us/call  "
        f"[cpu time: contract {(c['checked'] - c['unchecked']) * 1e6:+7.2f} us/call, "
        f"switched off {(c['off'] - c['unchecked']) * 1e6:+6.2f} us/call]"
    )


def _compiled_line(r: dict[str, Any]) -> str:
    w, c = r["extra_wall_s"], r["extra_cpu_s"]
    parts = [
        f"{k} {w[k] * 1e6:+7.2f} us ({c[k] * 1e6:+6.2f} us cpu)"
        for k in ("checked", "off", "eager-only")
    ]
    return (
        f"compiled  unchecked {w['unchecked'] * 1e6:9.2f} us  | per call vs unchecked: "
        + ", ".join(parts)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--blocks", type=int, default=30)
    parser.add_argument("--out", help="directory for contracts_overhead.{json,txt}")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # a shared 2-core machine: one thread, fewer stalls
    result: dict[str, Any] = {"benchmark": "contracts_overhead", **describe_device(device)}
    eager = boundary_sides(device, False)
    del eager["eager-only"]  # the same as checked outside torch.compile
    result["boundary"] = interleaved(eager, device, args.blocks, 200)
    result["model"] = interleaved(model_sides(device), device, max(args.blocks // 2, 5), 5)
    result["compiled"] = compiled_phases(device, args.blocks, 200)
    lines = [
        f"device {result['gpu'] or result['device']}  torch {result['torch']}  date {result['date']}"
    ]
    lines += [_line(name, result[name]) for name in ("boundary", "model")]
    lines.append(_compiled_line(result["compiled"]))
    print("\n".join(lines))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "contracts_overhead.txt").write_text("\n".join(lines) + "\n")
        write_result(str(Path(args.out) / "contracts_overhead.json"), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
