"""Probes run for real on this machine's CPU; crashing, hanging and raising probes are reported."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from torchwarden.env import report
from torchwarden.env.probes import PROBES, Probe, select
from torchwarden.env.probes.runner import ProbeRun, run_probes
from torchwarden.errors import EnvArgumentError
from torchwarden.findings import ProbeFinding, finding_from_dict

BAD_PROBES = """
import ctypes, os, signal, time

def abort():
    os.abort()

def segfault():
    ctypes.string_at(0)

def hang():
    time.sleep(600)

def raises():
    raise ValueError("the probe body raised")

def exits():
    os._exit(3)

def kill_runner():
    with open(__file__ + ".pid", "w") as f:
        f.write(str(os.getpid()))
    os.kill(os.getppid(), signal.SIGKILL)  # takes the zygote down with it
    time.sleep(600)

def ok():
    return {"status": "ok", "message": "fine", "details": {"pid": os.getpid()}}
"""


@pytest.fixture
def bad_probes(tmp_path: Path) -> Path:
    path = tmp_path / "bad_probes.py"
    path.write_text(BAD_PROBES)
    return path


def probe(file: Path, name: str, timeout_s: float = 30.0) -> Probe:
    return Probe(name, f"{file}:{name}", name, f"fix {name}", timeout_s=timeout_s)


def by_name(results: list[ProbeFinding]) -> dict[str, ProbeFinding]:
    return {r.probe: r for r in results}


def test_quick_probes_pass_on_this_machine() -> None:
    quick, slow = select(quick=True)
    assert {p.name for p in slow} == {"compile", "dataloader", "distributed", "bandwidth"}
    results = run_probes(quick)
    assert [r.probe for r in results] == [p.name for p in quick]
    for r in results:
        assert isinstance(r, ProbeFinding) and r.kind == "probe"
        assert {"status", "message", "fix", "duration_s", "error"} <= set(r.to_dict())
        assert finding_from_dict(r.to_dict()) == r
        assert r.status in ("ok", "skip"), r
    gpu_only = {"kernel"}
    assert all(by_name(results)[n].status == "ok" for n in {p.name for p in quick} - gpu_only)


def test_crashes_hangs_and_errors_are_failures_not_crashes(bad_probes: Path) -> None:
    probes = [probe(bad_probes, n) for n in ("abort", "segfault", "raises", "exits", "ok")]
    probes.append(probe(bad_probes, "hang", timeout_s=2.0))
    results = by_name(run_probes(probes, jobs=2))
    assert results["abort"].status == "fail" and "SIGABRT" in results["abort"].error
    assert results["segfault"].status == "fail" and "SIGSEGV" in results["segfault"].error
    assert "Fatal Python error" in results["segfault"].output  # faulthandler's traceback kept
    assert results["raises"].error == "ValueError: the probe body raised"
    assert "exited with code 3" in results["exits"].error
    assert results["hang"].status == "fail" and "timed out after 2 s" in results["hang"].error
    # it had its whole timeout: a lower bound, which no load on the machine can break
    assert results["hang"].duration_s >= 2.0
    assert results["segfault"].severity == "error" and results["ok"].severity == "info"
    assert results["ok"].status == "ok" and results["ok"].fix == ""
    assert all(results[n].fix == f"fix {n}" for n in ("abort", "segfault", "hang"))


def test_spawn_isolation_reports_the_same(
    bad_probes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without fork (or with CUDA initialised in the zygote) each probe gets a fresh interpreter."""
    monkeypatch.setenv("TORCHWARDEN_PROBE_ISOLATION", "spawn")
    events: list[dict[str, Any]] = []
    probes = [
        probe(bad_probes, "segfault"),
        probe(bad_probes, "ok"),
        probe(bad_probes, "hang", 1.0),
    ]
    results = by_name(run_probes(probes, jobs=3, on_event=events.append))
    assert next(e for e in events if e["event"] == "ready")["isolation"] == "spawn"
    assert "SIGSEGV" in results["segfault"].error
    assert results["ok"].status == "ok"
    assert "timed out after 1 s" in results["hang"].error


def test_a_failed_probe_makes_the_report_exit_2(bad_probes: Path) -> None:
    results = run_probes([probe(bad_probes, "ok"), probe(bad_probes, "abort")])
    document = report.make({}, [], results)
    assert document["summary"] == {"skip": 0, "ok": 1, "warn": 0, "fail": 1}
    assert report.exit_code(document) == 2


def test_each_probe_runs_in_its_own_process(bad_probes: Path) -> None:
    results = run_probes([probe(bad_probes, "ok"), Probe("ok2", f"{bad_probes}:ok", "ok", "")])
    pids = {r.details["pid"] for r in results}
    assert len(pids) == 2 and os.getpid() not in pids


def test_a_dead_runner_still_yields_a_result_per_probe(bad_probes: Path) -> None:
    probes = [probe(bad_probes, "kill_runner"), probe(bad_probes, "ok")]
    results = by_name(run_probes(probes))
    for name in ("kill_runner", "ok"):
        assert results[name].status == "fail"
        assert "probe runner stopped" in results[name].error
    orphan = int(Path(f"{bad_probes}.pid").read_text())
    deadline = time.monotonic() + 60  # a bounded wait for the kernel to reap it, not a speed check
    while _alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(orphan), "a probe outlived its runner"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead but not yet reaped by init: count it as ended
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text().lower()


def test_the_runner_reads_torch_facts_in_a_child() -> None:
    run = ProbeRun([], fingerprint=True)
    assert run.results() == []
    assert run.torch_part is not None and run.torch_part["status"] == "ok"
    import torch

    assert run.torch_part["details"]["torch"]["version"] == torch.__version__


def test_probe_specs_are_validated() -> None:
    with pytest.raises(EnvArgumentError, match="module:function"):
        Probe("x", "no_colon", "x", "")
    with pytest.raises(ValueError, match="unknown probe"):  # also the builtin, for old callers
        select(names=("kernal",))
    assert len({p.name for p in PROBES}) == len(PROBES)


@pytest.mark.slow
def test_full_probe_set_on_cpu() -> None:
    """Every probe, compile included, in one run: the CI proof that the slow paths work.

    How long it takes is a benchmark figure (benchmarks/doctor_speed.py), not a test.
    """
    results = by_name(run_probes(PROBES))
    assert {r.status for r in results.values()} <= {"ok", "skip"}, results
    assert results["compile"].details["compilations"] <= 2
    assert results["distributed"].details["backends"][0] == "gloo"
    assert results["dataloader"].status == "ok"


def test_the_kernel_probe_body_checks_its_results() -> None:
    """The GPU kernel check, run on the CPU here so that its arithmetic is tested in CI."""
    import torch

    from torchwarden.env.probes import compute

    compute.launch(torch.device("cpu"))
    assert compute.kernel_launch()["status"] == ("ok" if torch.cuda.is_available() else "skip")
