"""``torchwarden doctor`` as CI runs it: a real subprocess, its JSON and its exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.env.env_helpers import FIXTURES, SRC, run_cli


def test_doctor_quick_writes_the_report_and_exits_0(tmp_path: Path) -> None:
    # how fast it is (budget: 5 s) is a benchmark figure: benchmarks/doctor_speed.py
    out = tmp_path / "env.json"
    done = run_cli("doctor", "--quick", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["schema"] == "torchwarden.env/1"
    assert report["summary"]["fail"] == 0
    skipped = {p["probe"] for p in report["probes"] if p["message"] == "skipped by --quick"}
    assert skipped == {"compile", "dataloader", "distributed", "bandwidth"}
    assert "rules" in done.stdout and "probes" in done.stdout


@pytest.mark.parametrize(
    ("name", "strict", "code"),
    [
        ("gpu-handwritten.json", False, 0),
        ("broken-old-driver.json", False, 2),
        ("broken-sm120-cu126.json", False, 2),
        ("broken-shm-64m.json", False, 2),
        ("broken-empty-visible-devices.json", False, 2),
        ("broken-nccl-p2p-disable.json", False, 0),
        ("broken-nccl-p2p-disable.json", True, 1),
        ("broken-no-compiler.json", True, 1),
        ("broken-compat-driver.json", True, 1),
        ("broken-shm-64m.json", True, 2),
    ],
)
def test_exit_codes_on_recorded_fingerprints(name: str, strict: bool, code: int) -> None:
    done = run_cli(
        "doctor", "--fingerprint", str(FIXTURES / name), *(["--strict"] if strict else [])
    )
    assert done.returncode == code, done.stdout + done.stderr
    assert f"recorded: {FIXTURES / name}" in done.stdout


def test_the_failure_and_its_fix_are_printed() -> None:
    done = run_cli("doctor", "--fingerprint", str(FIXTURES / "broken-shm-64m.json"))
    assert "FAIL" in done.stdout and "/dev/shm is 64.0 MiB" in done.stdout
    assert "--shm-size=16g" in done.stdout


def test_an_unreadable_fingerprint_exits_2_with_a_fix(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "torchwarden.run/1"}')
    done = run_cli("doctor", "--fingerprint", str(bad))
    assert done.returncode == 2
    assert "expected 'torchwarden.env/1'" in done.stderr and "Traceback" not in done.stderr


def test_a_live_warning_exits_1_only_with_strict(tmp_path: Path) -> None:
    """An empty CUDA_VISIBLE_DEVICES on this CPU machine warns; --strict turns it into exit 1."""
    done = run_cli("doctor", "--no-probes", "--strict", env={"CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 1, done.stdout
    assert "set but empty" in done.stdout
    out = tmp_path / "env.json"
    relaxed = run_cli("doctor", "--no-probes", "--json", str(out), env={"CUDA_VISIBLE_DEVICES": ""})
    assert relaxed.returncode == 0
    probes = json.loads(out.read_text())["probes"]
    assert {(p["status"], p["message"]) for p in probes} == {
        ("skip", "probes not run (--no-probes)")
    }


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from torchwarden.cli import cli\n"
        "for args in (['--help'], ['doctor', '--help'], ['env', '--help'], ['env', 'diff', '--help']):\n"
        "    try:\n"
        "        cli.main(args, standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout + done.stderr
    assert "--fingerprint" in done.stdout and "--quick" in done.stdout


def test_importing_the_env_package_does_not_import_torch() -> None:
    code = "import sys, torchwarden.env; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.stdout.strip() == "False", done.stderr


def test_selected_probes_only(tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    done = run_cli(
        "doctor", "--probe", "numpy", "--probe", "gradcheck", "--jobs", "2", "--json", str(out)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    status = {
        p["probe"]: (p["status"], p["message"]) for p in json.loads(out.read_text())["probes"]
    }
    assert status["numpy"][0] == "ok" and status["gradcheck"][0] == "ok"
    assert status["compile"] == ("skip", "not selected")
    unknown = run_cli("doctor", "--probe", "kernal")
    assert unknown.returncode == 2 and "kernal" in unknown.stderr


def test_public_surface_is_complete() -> None:
    import torchwarden.env as env

    public = {name for name in vars(env) if not name.startswith(("_", "@"))}  # "@": pytest rewrite
    submodules = {"arch", "diff", "dockerfile", "doctor", "fingerprint", "gpu_rules", "gpus", "host",
                   "host_rules", "probes", "report", "rules", "schema", "tables", "verdict"}  # fmt: skip
    assert public - submodules == set(env.__all__)
