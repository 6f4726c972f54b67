"""One doctor visit: fingerprint, rules and probes, assembled into a ``torchwarden.env/1`` report.

This is the library face of ``torchwarden doctor``; the CLI only parses options and prints.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torchwarden.env import fingerprint, report, rules
from torchwarden.env.probes import PROBES, select
from torchwarden.env.probes.runner import ProbeRun, skipped

__all__ = ["checkup", "judge_file"]

Callback = Callable[[dict[str, Any]], None]


def checkup(
    *,
    quick: bool = False,
    probes: tuple[str, ...] = (),
    run_probes: bool = True,
    jobs: int | None = None,
    on_event: Callback | None = None,
) -> dict[str, Any]:
    """Fingerprint this machine, judge it by every rule, and run the probes.

    ``on_event`` sees ``{"event": "phase", "name": ...}`` and the probe runner's ``start`` and
    ``result`` events, in order, for a live display.
    """
    notify = on_event or (lambda _event: None)
    to_run, not_run = select(quick, probes) if run_probes else ([], list(PROBES))
    # torch is imported once, in the runner, which also reads torch's part of the fingerprint
    runner = ProbeRun(to_run, jobs=jobs, fingerprint=True)
    notify({"event": "phase", "name": "fingerprint"})
    host_facts = fingerprint.host_part()  # while the runner imports torch
    notify({"event": "phase", "name": "importing torch"})
    results = runner.results(notify)
    notify({"event": "phase", "name": "rules"})
    fp = fingerprint.assemble(host_facts, runner.torch_part or {})
    verdicts = rules.evaluate(fp)
    for probe in not_run:
        why = "skipped by --quick" if quick and not probe.quick else "not selected"
        results += skipped([probe], why if run_probes else "probes not run (--no-probes)")
    order = {p.name: i for i, p in enumerate(PROBES)}
    results.sort(key=lambda r: order.get(r.probe, len(order)))
    return report.make(fp, verdicts, results)


def judge_file(path: str | Path) -> dict[str, Any]:
    """Evaluate today's rules on a recorded fingerprint; its recorded probes are kept as they were."""
    recorded = report.load(path)
    verdicts = rules.evaluate(recorded["fingerprint"])
    probes = report.findings(recorded, "probes")
    return report.make(recorded["fingerprint"], verdicts, probes, source=str(path))
