"""One rank of a ``torchwarden run --nproc-per-node N`` run (started by torchrun).

    python -m torchwarden.runtime.worker script|module TARGET [ARGS...]

The arguments say only what to run, as the parent resolved it; how to govern it comes
whole from ``TORCHWARDEN_RUN_CONFIG`` (:meth:`RunConfig.to_json`), so no option is
parsed twice.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from torchwarden.errors import RunError
from torchwarden.runtime.config import CONFIG_VAR, RunConfig
from torchwarden.runtime.workload import Workload

if TYPE_CHECKING:
    from torchwarden.runtime.finish import RunOutcome

__all__ = ["main", "worker_argv"]


def worker_argv(workload: Workload) -> list[str]:
    """The interpreter arguments that run ``workload`` as one governed rank."""
    return ["-m", "torchwarden.runtime.worker", workload.kind, workload.target, *workload.args]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0] not in ("script", "module"):
        raise RunError(
            f"torchwarden.runtime.worker: expected 'script|module TARGET [ARGS...]', got {args!r}."
            " Start ranks with `torchwarden run --nproc-per-node N`."
        )
    if CONFIG_VAR not in os.environ:
        raise RunError(
            f"{CONFIG_VAR} is not set: start ranks with `torchwarden run --nproc-per-node N`."
        )
    kind: Literal["script", "module"] = "module" if args[0] == "module" else "script"
    workload = Workload(kind, args[1], tuple(args[2:]))
    rank = int(os.environ.get("RANK", "0"))
    config = RunConfig.from_json(os.environ[CONFIG_VAR]).for_rank(rank)
    attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)
    return _run_in_process()(workload, config, attempt=attempt).exit_code


def _run_in_process() -> Callable[..., RunOutcome]:
    """The runner's ``run_in_process``, imported with the garbage collector paused.

    Imported here, not at the top: the launcher reads :func:`worker_argv` and must not
    import torch for it. Importing torch makes hundreds of thousands of objects, and each
    full collection meanwhile walks all of them to find next to no garbage: paused, the
    rank reaches the script's first line sooner (``benchmarks/rank_start.py``).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        from torchwarden.runtime.runner import run_in_process
    finally:
        if enabled:
            gc.enable()
    return run_in_process


if __name__ == "__main__":
    sys.exit(main())
