"""Every option is checked while the command line is parsed: exit 2, a clear message, no work."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from torchwarden.cli import cli

BAD = [
    (["run", "--nproc-per-node", "0", "train.py"], "--nproc-per-node"),
    (["run", "--wait-timeout", "-5", "train.py"], "--wait-timeout"),
    (["run", "--max-restarts", "-1", "train.py"], "--max-restarts"),
    (["run", "--name", "../../x", "train.py"], "is not a run name"),
    (["run", "--name", "a/b", "train.py"], "is not a run name"),
    (["run", "--name", "..", "train.py"], "is not a run name"),
    (["run", "--out", "/proc/x", "train.py"], "is under /proc"),
    (["run", "--out", "a-file", "train.py"], "is not a directory"),
    (["run", "--out", "used", "train.py"], "is not empty"),
    (["env", "dockerfile", "--shm-size", "lots"], "is not a size"),
    (["env", "dockerfile", "--shm-size", "16g; rm -rf /"], "is not a size"),
    (["env", "dockerfile", "-o", "/proc/x"], "is under /proc"),
    (["doctor", "--json", "/proc/x"], "is under /proc"),
    (["doctor", "--json", "missing/x.json"], "does not exist"),
    (["doctor", "--json", "used"], "is a directory"),
]


@pytest.mark.parametrize(("argv", "says"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_option_fails_before_any_work(
    argv: list[str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("open('ran', 'w').close()\n")
    (tmp_path / "a-file").write_text("")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "run.json").write_text("{}")
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "ran").exists()  # the script never started
    assert not (tmp_path / "runs").exists()  # no run directory was made


def test_good_values_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("print('ran')\n")
    argv = [
        "run",
        "--no-report",
        "--no-progress",
        "--name",
        "exp_1.v2",
        "--out",
        "fresh",
        "train.py",
    ]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fresh" / "run.json").is_file()
