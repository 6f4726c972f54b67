"""The command line's one error boundary: every command's errors in one format, exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from torchwarden.cli import cli
from torchwarden.cli.errors import EXIT_ERROR, format_error
from torchwarden.errors import FingerprintError, RunError

PREFIX = "torchwarden: error: "

# argv (run in a directory holding train.py and nothing else) -> what the message says
CASES = {
    "run, no such script": (["run", "nope.py"], "No script at 'nope.py'"),
    "run, no such module": (["run", "-m", "no_such_module_xyz"], "No module named 'no_such_module_xyz'"),
    "run, bad option value": (["run", "--memory-fraction", "2", "train.py"], "--memory-fraction must be in (0, 1]"),
    "run, bad --gpus": (["run", "--gpus", "0", "train.py"], "gpus='0': asks for no GPU"),
    "doctor, unreadable fingerprint": (["doctor", "--fingerprint", "missing.json"], "cannot read fingerprint missing.json"),
    "env diff, unreadable file": (["env", "diff", "missing.json", "train.py"], "cannot read fingerprint missing.json"),
    "env dockerfile, unreadable fingerprint": (["env", "dockerfile", "--fingerprint", "missing.json"], "cannot read fingerprint missing.json"),
}  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("print('ran')\n")
    return tmp_path


@pytest.mark.parametrize("case", list(CASES))
def test_every_command_reports_errors_one_way(case: str, workdir: Path) -> None:
    argv, says = CASES[case]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == EXIT_ERROR, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(PREFIX), result.stderr
    assert says in result.stderr
    assert result.stderr.count(PREFIX) == 1 and "Traceback" not in result.stderr
    assert not (workdir / "runs").exists()  # nothing ran


def test_format_names_the_tool_and_keeps_the_message() -> None:
    error = FingerprintError("cannot read fingerprint x.json: No such file; record one with ...")
    assert (
        format_error(error)
        == f"{PREFIX}cannot read fingerprint x.json: No such file; record one with ..."
    )
    assert format_error(RunError("two\nlines")) == f"{PREFIX}two\nlines"


def test_the_installed_entry_point_uses_the_boundary(tmp_path: Path) -> None:
    """`python -m torchwarden`, as a user runs it: the same line, the same exit code."""
    proc = subprocess.run(
        [sys.executable, "-m", "torchwarden", "doctor", "--fingerprint", "missing.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == EXIT_ERROR
    assert proc.stderr.startswith(f"{PREFIX}cannot read fingerprint missing.json")


def test_usage_errors_stay_clicks(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["run", "--nproc-per-node", "many", "train.py"])
    assert result.exit_code == 2 and "Invalid value for '--nproc-per-node'" in result.stderr
