"""The in-process runner's parts: outcome mapping, set-up undone, the record's findings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from torchwarden.findings import OOMFinding, TopTensor, finding_from_dict
from torchwarden.report import validate_run_record
from torchwarden.runtime import steps
from torchwarden.runtime.config import CONFIG_VAR, RunConfig
from torchwarden.runtime.record import RunTimes, build_record
from torchwarden.runtime.runner import outcome_of, run_in_process
from torchwarden.runtime.signals import Terminated
from torchwarden.runtime.workload import Workload


def _raised(e: BaseException) -> BaseException:
    try:
        raise e
    except BaseException as caught:
        return caught


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (SystemExit(0), (0, "ok")),
        (SystemExit(None), (0, "ok")),
        (SystemExit(3), (3, "failed")),
        (SystemExit("bye"), (1, "failed")),
        (KeyboardInterrupt(), (130, "interrupted")),
        (Terminated(signal.SIGTERM), (128 + signal.SIGTERM, "interrupted")),
        (Terminated(signal.SIGHUP), (128 + signal.SIGHUP, "interrupted")),
        (ValueError("boom"), (1, "failed")),
        (torch.cuda.OutOfMemoryError("CUDA out of memory"), (1, "oom")),
    ],
)
def test_outcome_of(error: BaseException, expected: tuple[int, str]) -> None:
    assert outcome_of(_raised(error)) == expected


def test_errors_print_the_traceback_python_would(capsys: pytest.CaptureFixture[str]) -> None:
    outcome_of(_raised(ValueError("boom")))
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and err.rstrip().endswith("ValueError: boom")
    assert outcome_of(_raised(SystemExit("bye"))) == (1, "failed")
    assert capsys.readouterr().err == "bye\n"  # what Python prints for sys.exit("bye")


def test_set_up_is_undone_when_the_workload_fails(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(
        "import torchwarden\ntorchwarden.step()\nraise KeyError('k')\n"
    )
    handler = signal.getsignal(signal.SIGTERM)
    config = RunConfig(tmp_path / "out", "t", progress=False, report=False, summary=False)
    outcome = run_in_process(Workload("script", str(tmp_path / "train.py")), config)
    assert (outcome.exit_code, outcome.status) == (1, "failed")
    assert signal.getsignal(signal.SIGTERM) is handler  # the SIGTERM trap is gone
    assert steps.active_monitor() is None  # the step hooks are gone
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    validate_run_record(record)
    assert record["artifacts"]["report"] is None and len(record["steps"]) == 1


def test_an_oom_finding_is_written_whole_and_read_back(tmp_path: Path) -> None:
    top = TopTensor(
        holder="global cache", site="train.py:3", nbytes=1 << 30, shape=(8, 4), dtype="float32"
    )
    oom = OOMFinding(
        message="CUDA out of memory", requested_bytes=1 << 31, top_tensors=(top,), step=3, rank=0
    )
    record = build_record(
        name="t", command=["python", "t.py"], status="oom", exit_code=1,
        times=RunTimes(0.0, 1.0, 1.0), environment=_environment(), steps=[],
        findings=[oom, {"kind": "rule", "message": "m", "fix": "f"}],
    )  # fmt: skip
    validate_run_record(json.loads(json.dumps(record)))
    assert finding_from_dict(record["findings"][0]) == oom


def test_a_worker_takes_its_config_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import sys\nprint('args', sys.argv[1:])\n")
    config = RunConfig(tmp_path / "out", "w", leak_check=False)
    env = {**os.environ, CONFIG_VAR: config.to_json(), "RANK": "1"}
    argv = [sys.executable, "-m", "torchwarden.runtime.worker", "script", "train.py", "a", "--b"]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "args ['a', '--b']" in proc.stdout
    record = json.loads((tmp_path / "out" / "rank-1" / "run.json").read_text())
    assert record["name"] == "w" and record["ranks"][0]["rank"] == 1
    assert record["artifacts"]["report"] is None and not (tmp_path / "out" / "report.html").exists()


def _environment() -> dict[str, object]:
    keys = ("python", "platform", "hostname", "torch", "cuda", "driver", "cuda_visible_devices")
    return {**dict.fromkeys(keys, "x"), "gpus": []}


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["train.py"], {CONFIG_VAR: "{}"}, r"expected 'script\|module TARGET \[ARGS\.\.\.\]'"),
        (["script", "train.py"], {}, rf"{CONFIG_VAR} is not set"),
    ],
)
def test_a_worker_started_by_hand_is_told_how(
    argv: list[str], env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchwarden.errors import RunError
    from torchwarden.runtime.worker import main

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(RunError, match=message):
        main(argv)
