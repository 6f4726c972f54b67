"""``env dockerfile``: no Docker engine here, so the file is parsed and its shell parts are run."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.env.env_helpers import FIXTURES, fingerprint, fixture, run_cli
from torchwarden._version import __version__
from torchwarden.env.dockerfile import WHEEL, DockerSpec, render, run_line
from torchwarden.errors import EnvError

dockerfile_parse = pytest.importorskip("dockerfile_parse")

DIGEST = "sha256:" + "0123456789abcdef" * 4


def parse(text: str, tmp_path: Path) -> list[dict[str, Any]]:
    parser = dockerfile_parse.DockerfileParser(path=str(tmp_path / "Dockerfile"))
    parser.content = text
    structure: list[dict[str, Any]] = parser.structure
    return structure


def instructions(structure: list[dict[str, Any]], name: str) -> list[str]:
    return [i["value"] for i in structure if i["instruction"] == name]


def gpu_spec(**options: Any) -> DockerSpec:
    return DockerSpec.from_fingerprint(fingerprint("gpu-handwritten.json"), **options)


def test_gpu_dockerfile_is_pinned_and_governed(tmp_path: Path) -> None:
    structure = parse(render(gpu_spec(digest=DIGEST)), tmp_path)
    assert instructions(structure, "FROM") == [
        f"pytorch/pytorch:2.11.0-cuda13.0-cudnn9-runtime@{DIGEST}"
    ]
    assert instructions(structure, "USER") == ["warden"]
    assert instructions(structure, "WORKDIR") == ["/workspace"]
    [health] = instructions(structure, "HEALTHCHECK")
    assert health.endswith("CMD torchwarden doctor --quick || exit 1")
    runs = " ".join(instructions(structure, "RUN"))
    assert "build-essential" in runs and "Python.h" in runs  # torch.compile's toolchain
    assert "useradd" in runs and "--uid 1000" in runs
    assert "jupyter" not in runs and "openssh" not in runs
    # the USER switch comes after every RUN: nothing runs as root at container start
    kinds = [i["instruction"] for i in structure]
    assert max(i for i, k in enumerate(kinds) if k == "RUN") < kinds.index("USER")


def test_cpu_fingerprint_uses_the_cpu_wheel(tmp_path: Path) -> None:
    spec = DockerSpec.from_fingerprint(fingerprint("cpu.json"), compile=False)
    structure = parse(render(spec), tmp_path)
    assert instructions(structure, "FROM") == ["python:3.11-slim"]
    runs = " ".join(instructions(structure, "RUN"))
    assert "whl/cpu" in runs and "build-essential" not in runs
    assert "--gpus" not in run_line(spec)


def script_of(text: str, marker: str, tmp_path: Path) -> Path:
    """Run the RUN line that writes ``marker`` with its target moved into ``tmp_path``."""
    [line] = [
        i["value"]
        for i in parse(text, tmp_path)
        if i["instruction"] == "RUN" and f"> {marker}" in i["value"]
    ]
    target = tmp_path / Path(marker).name
    command = line.replace(f"> {marker}", f"> {target}").rsplit(" && chmod", 1)[0]
    subprocess.run(["sh", "-c", command], check=True, timeout=30)
    return target


def run_script(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": os.environ["PATH"], "HOME": str(script.parent), **env}
    return subprocess.run(
        ["sh", str(script), *args], capture_output=True, text=True, env=environ, timeout=30
    )


def test_jupyter_never_starts_without_a_token(tmp_path: Path) -> None:
    text = render(gpu_spec(jupyter=True))
    structure = parse(text, tmp_path)
    assert '"jupyter", "lab"' in instructions(structure, "CMD")[0]
    assert "8888" in instructions(structure, "EXPOSE")[0]
    script = script_of(text, "/usr/local/bin/torchwarden-entrypoint", tmp_path)
    subprocess.run(["sh", "-n", str(script)], check=True)
    for env in ({}, {"JUPYTER_TOKEN": ""}):
        refused = run_script(script, env, "echo", "started")
        assert refused.returncode != 0 and "set JUPYTER_TOKEN" in refused.stderr
        assert "started" not in refused.stdout
    assert run_script(script, {"JUPYTER_TOKEN": "x" * 48}, "echo", "started").stdout == "started\n"


def test_ssh_is_key_only(tmp_path: Path) -> None:
    text = render(gpu_spec(ssh=True))
    config = script_of(text, "/etc/ssh/warden_sshd_config", tmp_path).read_text().splitlines()
    assert {"PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin no",
            "PubkeyAuthentication yes", "PermitEmptyPasswords no", "AllowUsers warden"} <= set(config)  # fmt: skip
    script = script_of(text, "/usr/local/bin/torchwarden-entrypoint", tmp_path)
    refused = run_script(script, {}, "echo", "started")
    assert refused.returncode != 0 and "set SSH_AUTHORIZED_KEYS" in refused.stderr
    assert "openssh-server" in " ".join(instructions(parse(text, tmp_path), "RUN"))


def test_build_time_pin_check_runs(tmp_path: Path) -> None:
    """The pin check is plain Python: on this machine it passes for this machine's fingerprint."""
    here = render(DockerSpec.from_fingerprint(fingerprint("cpu.json")))
    gpu = render(gpu_spec())
    check = next(v for v in instructions(parse(here, tmp_path), "RUN") if "sys.version_info" in v)
    if fingerprint("cpu.json")["python"]["version"].rsplit(".", 1)[0] == ".".join(
        map(str, sys.version_info[:2])
    ):
        assert (
            subprocess.run(
                ["sh", "-c", check.replace("python -c", f"{sys.executable} -c")]
            ).returncode
            == 0
        )
    check = next(v for v in instructions(parse(gpu, tmp_path), "RUN") if "sys.version_info" in v)
    failed = subprocess.run(["sh", "-c", check.replace("python -c", f"{sys.executable} -c")],
                            capture_output=True, text=True)  # fmt: skip
    assert failed.returncode != 0 and "AssertionError" in failed.stderr


def test_run_line() -> None:
    line = run_line(gpu_spec(jupyter=True, ssh=True))
    for part in ("--gpus all", "--ipc=host", "--ulimit memlock=-1", '-v "$PWD":/workspace',
                 "-e JUPYTER_TOKEN", "-p 2222:2222"):  # fmt: skip
        assert part in line
    assert "--shm-size=16g" in run_line(gpu_spec(shm_size="16g"))
    assert "--ipc=host" not in run_line(gpu_spec(shm_size="16g"))


def test_bad_digest_is_refused() -> None:
    with pytest.raises(EnvError, match="sha256:<64 hex digits>"):
        gpu_spec(digest="latest")


def test_cli_writes_the_file_and_prints_the_run_line(tmp_path: Path) -> None:
    out = tmp_path / "Dockerfile"
    done = run_cli("env", "dockerfile", "--fingerprint", str(FIXTURES / "gpu-handwritten.json"),
                   "--jupyter", "--digest", DIGEST, "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "# run: docker run" in done.stderr and "--gpus all" in done.stderr
    assert instructions(parse(out.read_text(), tmp_path), "FROM")[0].endswith(DIGEST)
    bad = run_cli("env", "dockerfile", "--fingerprint", str(FIXTURES / "cpu.json"), "--digest", "x")
    assert bad.returncode == 2 and "sha256" in bad.stderr


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("torch", "2.11.0$(touch /tmp/pwned)"),
        ("torch", "2.11.0'; touch /tmp/pwned; '"),
        ("cudnn_major", "9-runtime\nRUN pip install evilpkg\n#"),
        ("cuda", "13.0\nRUN id"),
        ("python", "3.12\"; import os; os.system('id'); \""),
        ("shm_size", "lots"),
        ("image", "x; rm -rf /"),
        ("wheel", "../../etc/torchwarden-1.whl"),
        ("wheel", "dist/torchwarden-0.1.0.whl\nRUN id"),
    ],
)
def test_injection_payloads_are_refused(field: str, value: str) -> None:
    with pytest.raises(
        EnvError, match=rf"{field}=.*nothing else may go into a Dockerfile|inside the build context"
    ):
        dataclasses.replace(gpu_spec(), **{field: value})


def test_injection_through_a_fingerprint_is_refused(tmp_path: Path) -> None:
    for field, payload in (("version", "2.11.0$(touch /tmp/pwned)"),
                           ("cudnn", "9-runtime\nRUN pip install evilpkg\n#")):  # fmt: skip
        document = fixture("gpu-handwritten.json")
        document["fingerprint"]["torch"][field] = payload
        path = tmp_path / "fp.json"
        path.write_text(json.dumps(document))
        done = run_cli("env", "dockerfile", "--fingerprint", str(path))
        assert done.returncode == 2 and f"fingerprint.torch.{field} should be" in done.stderr
        assert "FROM" not in done.stdout and "Traceback" not in done.stderr


def test_torchwarden_comes_from_a_wheel_of_its_source(tmp_path: Path) -> None:
    structure = parse(render(gpu_spec()), tmp_path)
    [copy] = instructions(structure, "COPY")
    wheel = f"dist/torchwarden-{__version__}-py3-none-any.whl"
    assert copy == f"{wheel} /tmp/torchwarden-{__version__}-py3-none-any.whl"
    runs = " ".join(instructions(structure, "RUN"))
    assert f"pip install /tmp/torchwarden-{__version__}-py3-none-any.whl" in runs
    assert "torchwarden==" not in runs
    custom = parse(render(gpu_spec(wheel="wheels/torchwarden-9.9-py3-none-any.whl")), tmp_path)
    assert instructions(custom, "COPY")[0].startswith("wheels/torchwarden-9.9-py3-none-any.whl ")


@pytest.mark.slow
def test_the_default_wheel_name_is_what_pip_wheel_builds(tmp_path: Path) -> None:
    """Build the wheel the Dockerfile copies, as its header says, from this source tree."""
    root, source = Path(__file__).resolve().parents[2], tmp_path / "source"
    source.mkdir()
    for part in ("pyproject.toml", "README.md", "src"):  # a copy: the build writes into it
        copy = shutil.copytree if (root / part).is_dir() else shutil.copy
        copy(root / part, source / part if part == "src" else source)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "dist").iterdir()] == [Path(WHEEL).name]
