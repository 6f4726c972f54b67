"""What runs inside a probe's own process: load the probe, run it, leave a result file.

Forked from the zygote (the fast path), or started as
``python -m torchwarden.env.probes.child TARGET WORKDIR PARENT_PID`` (the spawn path: no
``fork``, or a zygote that initialised CUDA). Either way the process writes its stdout and
stderr to ``WORKDIR/output`` and its result to ``WORKDIR/result.json``; a crash leaves only
the output, with faulthandler's traceback.
"""

from __future__ import annotations

import ctypes
import faulthandler
import importlib
import importlib.util
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

from torchwarden.errors import ProbeError

__all__ = ["die_with", "load_target", "run"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def load_target(target: str) -> Any:
    """``"package.module:function"`` or ``"/path/to/file.py:function"``."""
    module_name, _, func = target.rpartition(":")
    if module_name.endswith(".py"):
        spec = importlib.util.spec_from_file_location(Path(module_name).stem, module_name)
        if spec is None or spec.loader is None:
            raise ProbeError(f"cannot load probe file {module_name}: is it a .py file?")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    return getattr(module, func)


def die_with(parent: int) -> None:
    """Linux: the kernel kills this process when ``parent`` dies: no probe outlives its doctor."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def run(target: str, workdir: Path) -> NoReturn:
    """Run one probe and exit; never returns (``os._exit`` skips the parent's atexit handlers)."""
    code = 0
    try:
        out = os.open(workdir / "output", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(out, 2)
        faulthandler.enable()  # a segfault leaves a Python traceback in the output file
        outcome = load_target(target)()
    except BaseException as exc:  # the child reports everything, even SystemExit
        outcome = {"status": "fail", "message": f"{type(exc).__name__}: {exc}",
                   "traceback": traceback.format_exc()}  # fmt: skip
        code = 1
    try:
        (workdir / "result.json").write_text(json.dumps(outcome, default=str))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    die_with(int(sys.argv[3]))
    run(sys.argv[1], Path(sys.argv[2]))
