"""One rank of a ``torchwarden run --nproc-per-node N`` run (started by torchrun)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from torchwarden.runtime.runner import RunConfig, run_in_process
from torchwarden.runtime.workload import Workload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="torchwarden.runtime.worker")
    parser.add_argument("--out", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--no-leak-check", action="store_true")
    parser.add_argument("--memory-fraction", type=float)
    parser.add_argument("--audit-transfers", action="store_true")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--script")
    target.add_argument("--module")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args(argv)
    args = tuple(ns.args[1:] if ns.args[:1] == ["--"] else ns.args)
    rank = int(os.environ.get("RANK", "0"))
    workload = Workload.resolve(ns.script, ns.module, args)
    config = RunConfig(
        out_dir=Path(ns.out) / f"rank-{rank}",
        name=ns.name,
        leak_check=not ns.no_leak_check,
        memory_fraction=ns.memory_fraction,
        progress=False,
        report=False,
        summary=False,
        rank=rank,
        audit_transfers=ns.audit_transfers,
    )
    return run_in_process(workload, config).exit_code


if __name__ == "__main__":
    sys.exit(main())
