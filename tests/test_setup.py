"""Set-up takes torch's CPU build on a machine without a GPU, and falls back when it must."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "torch_index.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("torch_index", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _without_nvidia_smi() -> dict[str, str]:
    path = [
        d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "nvidia-smi").exists()
    ]
    return {**os.environ, "PATH": os.pathsep.join(path)}


def test_the_cpu_index_comes_first_and_configured_indexes_stay() -> None:
    script = _script()
    options = script.pip_options(False, True, ["https://pypi.org/simple", "file:///mirror"])
    assert options == ["--index-url", script.CPU_INDEX, "--extra-index-url",
                       "https://pypi.org/simple", "--extra-index-url", "file:///mirror"]  # fmt: skip
    assert script.pip_options(True, True, ["https://pypi.org/simple"]) == []  # a GPU: CUDA build
    assert script.pip_options(False, False, ["https://pypi.org/simple"]) == []  # fall back


def test_an_unreachable_cpu_index_falls_back_to_the_configured_one() -> None:
    env = {**_without_nvidia_smi(), "TORCH_CPU_INDEX": "http://127.0.0.1:9/whl/cpu"}
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
    assert "cannot be reached; taking torch from the configured index" in done.stderr


def test_the_makefile_installs_torch_through_the_script() -> None:
    recipe = subprocess.run(["make", "-n", "-B", "setup", "PYTHON=python3"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    if recipe.returncode != 0:
        pytest.skip(f"make is not usable here: {recipe.stderr.strip()[:200]}")
    assert "pip install --quiet $(python3 scripts/torch_index.py) " in recipe.stdout


def test_a_dry_run_on_the_cpu_index_resolves_no_nvidia_wheels(tmp_path: Path) -> None:
    script = _script()
    if not script.reachable(script.CPU_INDEX):
        pytest.skip(
            f"PyTorch's CPU index {script.CPU_INDEX} cannot be reached from this machine, "
            "so set-up falls back to the configured index (checked above)"
        )
    options = script.pip_options(False, True, script.configured_indexes())
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--report", str(report), *options, "torch==2.13.0"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PIP_FIND_LINKS": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    resolved = {i["metadata"]["name"].lower(): i["metadata"]["version"]
                for i in json.loads(report.read_text())["install"]}  # fmt: skip
    assert not [name for name in resolved if name.startswith("nvidia-")]
    assert resolved["torch"].endswith("+cpu")
