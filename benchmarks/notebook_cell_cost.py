"""Cost per cell of ``%load_ext torchwarden``, against the same cell without it.

One in-process IPython shell runs each cell in blocks, alternately with the extension
loaded and unloaded, so drift hits both sides alike. Three cells:

    empty      ``pass``: what every cell pays
    binds      binds a new small tensor to a name: found in the namespace, no heap walk
    keeps      appends one to a list: found by the heap walk (and, sites off, the census)
    ops        1000 small torch calls: the creation recorder's cost per call

Each runs with creation sites recorded (the default) and without (``%tw sites off``).

    python benchmarks/notebook_cell_cost.py                      # CPU
    python benchmarks/notebook_cell_cost.py --device cuda --out benchmarks/results/x/notebook_cell_cost.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path
from typing import Any

import torch
from IPython.core.interactiveshell import InteractiveShell

sys.path.insert(0, str(Path(__file__).parent))
from _common import describe_device, summary, write_result

import torchwarden

CELLS = {
    "empty": "pass",
    "binds": "latest = torch.ones(4, device=DEVICE)",
    "keeps": "keep.append(torch.ones(4, device=DEVICE))",
    "ops": "for _ in range(1000):\n    y = x + 1",
}


def _time_cell(shell: InteractiveShell, code: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        shell.run_cell(code, store_history=False)
        out.append(time.perf_counter() - t0)
    return out


def measure(shell: InteractiveShell, code: str, blocks: int, block: int, sites: bool) -> Any:
    plain: list[float] = []
    loaded: list[float] = []
    for _ in range(blocks):
        plain += _time_cell(shell, code, block)
        torchwarden.load_ipython_extension(shell)
        with contextlib.redirect_stdout(io.StringIO()):  # measured quietly: nothing is shown
            shell.run_line_magic("tw", f"sites {'on' if sites else 'off'}")
            shell.run_line_magic("tw", "threshold 1GiB")
        loaded += _time_cell(shell, code, block)
        torchwarden.unload_ipython_extension(shell)
    p, w = summary(plain), summary(loaded)
    return {"plain": p, "loaded": w, "added_median_s": w["median_s"] - p["median_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--block", type=int, default=10)
    parser.add_argument("--out", help="write the result as JSON to this path")
    args = parser.parse_args()
    device = torch.device(args.device)
    shell = InteractiveShell.instance()
    shell.run_cell(
        f"import torch\nDEVICE = {str(device)!r}\nkeep = []\nx = torch.ones(8, device=DEVICE)"
    )
    results: dict[str, Any] = {"device": describe_device(device), "cells": {}}
    for name, code in CELLS.items():
        for sites in (True, False):
            key = f"{name}, sites {'on' if sites else 'off'}"
            r = results["cells"][key] = measure(shell, code, args.blocks, args.block, sites)
            print(
                f"{key:<18} plain {r['plain']['median_s'] * 1e3:8.3f} ms   "
                f"loaded {r['loaded']['median_s'] * 1e3:8.3f} ms   "
                f"added {r['added_median_s'] * 1e3:8.3f} ms per cell"
            )
    write_result(args.out, results)


if __name__ == "__main__":
    main()
