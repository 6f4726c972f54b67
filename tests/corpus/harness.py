"""Run a corpus program as ``torchwarden run`` would, in this process, and read its findings.

The program is written to a file and executed with ``runpy`` under a started
:class:`~torchwarden.runtime.steps.StepMonitor`, exactly as the runner does, without the
cost of a new interpreter per program. Examinations are placed by steps alone
(``TORCHWARDEN_EXAM_BUDGET=1``), so which steps are examined does not depend on timing.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import torch

from torchwarden.runtime.steps import BUDGET_ENV, StepMonitor


def run_program(tmp_path: Path, name: str, source: str) -> StepMonitor:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    previous = os.environ.get(BUDGET_ENV)
    os.environ[BUDGET_ENV] = "1"
    monitor = StepMonitor()
    cwd = Path.cwd()
    os.chdir(tmp_path)  # sites are relative to the working directory, as under `run`
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: more threads only contend with each other
    monitor.start()
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        monitor.stop()
        torch.set_num_threads(threads)
        os.chdir(cwd)
        if previous is None:
            os.environ.pop(BUDGET_ENV, None)
        else:
            os.environ[BUDGET_ENV] = previous
    return monitor


def line_of(source: str, marker: str) -> int:
    """The line of ``source`` that ends with ``# marker``."""
    return next(i for i, text in enumerate(source.splitlines(), 1) if text.endswith(f"# {marker}"))
