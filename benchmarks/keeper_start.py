"""What the keeper adds to `torchwarden run`: its start (paid before the script runs), its
release (paid after), one scan of /proc for the run's processes, against a whole run.

Every `torchwarden run` starts a keeper (``python -I -S keeper.py``, standard library
only) that ends the run's processes if the run is SIGKILLed. The run does not wait for
it to come up (it does while torch is imported), so its start-up cost is ``keeper_start``;
``keeper_ready`` is how long until it answers; the figure beside them is the wall time of
a whole `torchwarden run` of an empty script, measured in the same session.

    python benchmarks/keeper_start.py --repeats 20 --out-dir benchmarks/results/x
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import summary, write_outputs

from torchwarden.runtime.keeper import Keeper, members


def keeper_times(repeats: int) -> dict[str, list[float]]:
    """Start (what the run waits for), ready (start to its first answer: from then on a
    kill is noticed) and release once it is long up (what the run waits for at its end)."""
    times: dict[str, list[float]] = {"start": [], "ready": [], "release": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        keeper = Keeper(end_orphans=True)
        times["start"].append(time.perf_counter() - t0)
        assert keeper.release() == "free"
        times["ready"].append(time.perf_counter() - t0)
        keeper = Keeper(end_orphans=True)
        time.sleep(0.5)  # the script runs meanwhile
        t1 = time.perf_counter()
        assert keeper.release() == "free"
        times["release"].append(time.perf_counter() - t1)
    return times


def scan_times(repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        members("0" * 32, os.fstat(0).st_ino if os.isatty(0) else None, skip=())
        samples.append(time.perf_counter() - t0)
    return samples


def run_times(repeats: int) -> list[float]:
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "empty.py").write_text("")
        for i in range(repeats):
            cmd = [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--no-report",
                   "--out", f"run-{i}", "empty.py"]  # fmt: skip
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=tmp, check=True, capture_output=True)
            samples.append(time.perf_counter() - t0)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out-dir", help="write keeper_start.txt and keeper_start.json here")
    args = parser.parse_args()
    keeper = keeper_times(args.repeats)
    result = {
        "keeper_start": summary(keeper["start"]),
        "keeper_ready": summary(keeper["ready"]),
        "keeper_release": summary(keeper["release"]),
        "proc_scan": summary(scan_times(args.repeats)),
        "processes": len([e for e in os.listdir("/proc") if e.isdigit()]),
        "whole_run_empty_script": summary(run_times(max(3, args.repeats // 4))),
    }
    lines = [
        f"{name:24} median {r['median_s'] * 1000:8.1f} ms   p90 {r['p90_s'] * 1000:8.1f} ms"
        f"   n={r['n']}"
        for name, r in result.items()
        if isinstance(r, dict)
    ]
    lines.append(f"(/proc scan over {result['processes']} processes)")
    text = "\n".join(lines)
    print(text)
    write_outputs(args.out_dir, "keeper_start", text, result)


if __name__ == "__main__":
    main()
