"""How long ``torchwarden doctor`` takes, as a user runs it: wall clock of the whole command.

    PYTHONPATH=src python benchmarks/doctor_speed.py --out doctor_speed.json

Rows, each a fresh ``python -m torchwarden doctor`` subprocess (interpreter start included):
``--quick`` (median of --repeats), the full doctor with an empty torch.compile cache (cold:
inductor and Triton compile from scratch, as on a fresh machine), and the full doctor again
with that cache warm. Budgets checked: --quick < 5 s on the CPU machine, full < 60 s on a GPU
machine (the cold row is the honest one). Also prints each probe's own duration.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"
QUICK_BUDGET_S, FULL_BUDGET_S = 5.0, 60.0


def doctor(args: list[str], env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "env.json"
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "torchwarden", "doctor", "--json", str(out), *args],
            capture_output=True, text=True, env=env, timeout=900,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        if done.returncode not in (0, 1):
            print(done.stdout[-3000:], done.stderr[-2000:], file=sys.stderr)
        report: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
        report["exit_code"] = done.returncode
        return seconds, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of --quick (median)")
    parser.add_argument("--quick-only", action="store_true", help="skip the two full runs")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    opts = parser.parse_args()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (str(SRC), os.environ.get("PYTHONPATH")))),
    }

    quick = [doctor(["--quick"], env) for _ in range(opts.repeats)]
    rows: dict[str, Any] = {"quick_s": [round(s, 2) for s, _ in quick]}
    report = quick[-1][1]
    if not opts.quick_only:
        with tempfile.TemporaryDirectory() as cache:
            cold_env = {
                **env,
                "TORCHINDUCTOR_CACHE_DIR": cache,
                "TRITON_CACHE_DIR": f"{cache}/triton",
            }
            rows["full_cold_s"], report = doctor([], cold_env)
            rows["full_warm_s"], _ = doctor([], cold_env)
    fp = report.get("fingerprint", {})
    gpus = [g.get("name") for g in fp.get("gpus", [])]
    result = {
        "benchmark": "doctor_speed",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": ", ".join(gpus)
        or f"CPU only ({os.cpu_count()} cores, {platform.processor() or platform.machine()})",
        "torch": fp.get("torch", {}).get("version"),
        "python": platform.python_version(),
        "quick_median_s": round(statistics.median(rows["quick_s"]), 2),
        **{k: round(v, 2) if isinstance(v, float) else v for k, v in rows.items()},
        "probe_s": {p["probe"]: p.get("duration_s") for p in report.get("probes", [])},
        "exit_code": report.get("exit_code"),
    }
    print(f"device: {result['device']}   torch {result['torch']}   python {result['python']}")
    print(
        f"doctor --quick     median {result['quick_median_s']:6.2f} s  (runs {rows['quick_s']}, budget < {QUICK_BUDGET_S:g} s on CPU)"
    )
    if "full_cold_s" in result:
        print(
            f"doctor, cold cache        {result['full_cold_s']:6.2f} s  (budget < {FULL_BUDGET_S:g} s on GPU)"
        )
        print(f"doctor, warm cache        {result['full_warm_s']:6.2f} s")
    which = "last --quick run" if opts.quick_only else "cold full run"
    print(f"probe seconds ({which}):", json.dumps(result["probe_s"]))
    if opts.out:
        opts.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
