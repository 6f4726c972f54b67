"""How fast `torchwarden serve` answers with 1,000 runs in the index (the bar: median < 100 ms).

Fills a fresh index with ``--runs`` rows (most finished, some still running in this
process, some waiting, each with steps, step time, peak memory and findings), starts a
real `serve` process on a free port, and times whole HTTP requests (connect, answer,
read) to each page, interleaved, from this process.

    python benchmarks/serve_latency.py --runs 1000 --requests 50 --out benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import http.client
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import torch
from _common import describe_device, summary, write_result

from torchwarden.runtime.index import RunInfo, register

PAGES = (
    "/runs", "/runs?limit=1000", "/", "/api/machine", "/api/runs", "/runs?status=running",
    "RUN", "/metrics",
)  # fmt: skip


def fill(index: Path, runs: int) -> str:
    """``runs`` rows as real runs leave them; the id of one to open on the run page."""
    run_id = ""
    for i in range(runs):
        waiting = i % 97 == 0  # queued for any one GPU
        info = RunInfo(
            f"train-{i}", f"python train.py --seed {i}", index / "runs" / str(i),
            () if waiting else (i % 8,), "waiting" if waiting else "running",
            asked="1" if waiting else None,
        )  # fmt: skip
        handle = register(info, index_dir=index, min_interval_s=0)
        handle.update(step=100 + i, step_time_s=0.02, peak_bytes=2**30 + i, findings=i % 3)
        if i % 10:
            handle.finish("ok" if i % 7 else "failed", 0 if i % 7 else 1)
        else:
            handle.flush()  # left running: this process is alive, so it shows as running
        run_id = handle.id
    return run_id


def request(port: int, path: str) -> float:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path)
    answer = conn.getresponse()
    body = answer.read()
    conn.close()
    elapsed = time.perf_counter() - t0
    assert answer.status == 200 and body, (path, answer.status)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--out", help="write the result as JSON here (and print it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tw-serve-bench-") as tmp:
        index = Path(tmp) / "index"
        run_id = fill(index, args.runs)
        proc = subprocess.Popen(
            [sys.executable, "-m", "torchwarden", "serve", "--port", "0", "--index", str(index),
             "--lease-dir", str(Path(tmp) / "leases")],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            port = int(re.search(r":(\d+)/", proc.stderr.readline()).group(1))  # type: ignore[union-attr]
            result = measure(port, run_id, args)
        finally:
            proc.terminate()
            proc.communicate(timeout=30)
    write_result(args.out, result)


def measure(port: int, run_id: str, args: argparse.Namespace) -> dict[str, Any]:
    paths = [f"/runs/{run_id}" if p == "RUN" else p for p in PAGES]
    for path in paths:  # warm up: templates compiled, modules imported
        request(port, path)
    samples: dict[str, list[float]] = {p: [] for p in paths}
    for _ in range(args.requests):
        for path in paths:
            samples[path].append(request(port, path))
    pages = {p: summary(s) for p, s in samples.items()}
    print(f"serve with {args.runs} runs in the index, {args.requests} requests per page:")
    for path, s in pages.items():
        print(f"  {path:28s} median {s['median_s'] * 1e3:7.1f} ms   p90 {s['p90_s'] * 1e3:7.1f} ms")
    bar = pages["/runs"]["median_s"] < 0.1
    print(f"runs page median < 100 ms: {'yes' if bar else 'NO'}")
    return {
        "benchmark": "serve_latency",
        "machine": describe_device(torch.device("cpu")),
        "runs": args.runs,
        "requests": args.requests,
        "pages": pages,
        "runs_page_under_100ms": bar,
    }


if __name__ == "__main__":
    main()
