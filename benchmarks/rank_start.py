"""How soon ranks start under `torchwarden run --nproc-per-node N` against plain torchrun.

Each repetition launches the same tiny script (``workloads/rank_hello.py``: it writes
``time.time()`` at its first line, then joins one all-reduce) on both sides, in
alternating order, and measures launch -> first rank's first line, launch -> last
rank's first line, launch -> every rank's process group initialised (torch imported on
both sides: under torchwarden a rank imports torch before the script's first line, the
script's own ``import torch`` then costs nothing) and launch -> exit. The CPU seconds
of all processes of a run (launcher, torchrun, ranks) are the figure a loaded machine
disturbs least: wall times there stretch with everyone else's work. Both sides start torchrun the same way
(``python -m torch.distributed.run``); the difference is what torchwarden does before
torchrun and inside each rank before the user's first line.

    python benchmarks/rank_start.py --repeats 5 --nproc 2 --out-dir benchmarks/results/x
    python benchmarks/rank_start.py --backend nccl --out-dir out   # on a GPU machine
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import describe_device, write_result

HELLO = str(Path(__file__).parent / "workloads" / "rank_hello.py")
SIDES = ("torchrun", "torchwarden")
WHAT = ("started", "ready")
LABELS = {
    "first_s": "launch -> first rank's first line",
    "last_s": "launch -> last rank's first line",
    "ready_s": "launch -> every rank's group ready",
    "exit_s": "launch -> exit",
    "cpu_s": "CPU time of all processes, whole run",
}


def command(side: str, nproc: int, starts: Path, backend: str, out: Path) -> list[str]:
    script = [HELLO, str(starts), backend]
    if side == "torchrun":
        return [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}",
                "--standalone", *script]  # fmt: skip
    return [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--out", str(out),
            f"--nproc-per-node={nproc}", *script]  # fmt: skip


def one(side: str, nproc: int, backend: str, tmp: Path, i: int) -> dict[str, float]:
    starts = tmp / f"{side}-{i}.starts"
    cmd = command(side, nproc, starts, backend, tmp / f"run-{i}")
    cpu = _children_cpu()
    launched = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    ended = time.time()
    cpu = _children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"{side} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    rows = [line.split() for line in starts.read_text().splitlines()]
    times = {what: sorted(float(t) for _, w, t in rows if w == what) for what in WHAT}
    if any(len(t) != nproc for t in times.values()):
        raise SystemExit(f"{side}: not every one of {nproc} ranks wrote its times: {rows}")
    return {"first_s": times["started"][0] - launched, "last_s": times["started"][-1] - launched,
            "ready_s": times["ready"][-1] - launched, "exit_s": ended - launched,
            "cpu_s": cpu}  # fmt: skip


def _children_cpu() -> float:
    """CPU seconds of every finished descendant: launcher, torchrun and ranks alike."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def medians(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in rows) for key in rows[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--backend", choices=("gloo", "nccl"), default="gloo")
    parser.add_argument("--out-dir", type=Path, help="write rank_start.json here")
    args = parser.parse_args()
    import torch

    rows: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.repeats):
            order = SIDES if i % 2 == 0 else SIDES[::-1]  # drift hits both sides alike
            for side in order:
                rows[side].append(one(side, args.nproc, args.backend, Path(d), i))
                print(side, i, {k: round(v, 3) for k, v in rows[side][-1].items()}, flush=True)
    med = {side: medians(rows[side]) for side in SIDES}
    diff = {key: med["torchwarden"][key] - med["torchrun"][key] for key in med["torchrun"]}
    load = os.getloadavg()
    for key, label in LABELS.items():
        print(f"{label:38} torchrun {med['torchrun'][key]:6.2f} s  torchwarden "
              f"{med['torchwarden'][key]:6.2f} s  difference {diff[key]:+.2f} s")  # fmt: skip
    print(f"medians of {args.repeats} runs a side, {args.nproc} ranks, {args.backend}; "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")  # fmt: skip
    device = torch.device("cuda" if args.backend == "nccl" else "cpu")
    result: dict[str, Any] = {
        **describe_device(device),
        "nproc": args.nproc,
        "backend": args.backend,
        "repeats": args.repeats,
        "load_average": load,
        "median_s": med,
        "difference_s": diff,
        "runs": rows,
    }
    if args.out_dir is not None:
        write_result(str(args.out_dir / "rank_start.json"), result)


if __name__ == "__main__":
    main()
