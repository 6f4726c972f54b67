"""The live fingerprint of this machine, and the parsers behind its GPU facts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from torchwarden.env import fingerprint, gpus, host, report


@pytest.fixture(scope="module")
def live() -> dict[str, object]:
    return fingerprint.collect()


def test_live_fingerprint_has_every_section(live: dict[str, object]) -> None:
    sections = {
        "python",
        "platform",
        "torch",
        "numpy",
        "triton",
        "toolchain",
        "driver",
        "gpus",
        "host",
        "variables",
    }
    assert sections <= set(live)
    json.dumps(live)  # JSON-ready as it is


def test_live_torch_facts_are_this_torch(live: dict[str, object]) -> None:
    import torch

    facts = live["torch"]
    assert isinstance(facts, dict)
    assert facts["version"] == torch.__version__
    assert facts["git_version"] == torch.version.git_version
    assert facts["cuda"] == torch.version.cuda
    assert facts["arch_list"] == torch.cuda.get_arch_list()
    assert facts["device_count"] == torch.cuda.device_count()


def test_live_host_facts_match_the_os(live: dict[str, object]) -> None:
    facts = live["host"]
    assert isinstance(facts, dict)
    assert facts["cpu_count"] == os.cpu_count()
    if os.path.exists("/dev/shm"):
        st = os.statvfs("/dev/shm")
        assert facts["shm_bytes"] == st.f_blocks * st.f_frsize


def test_no_driver_is_recorded_not_raised(live: dict[str, object]) -> None:
    driver = live["driver"]
    assert isinstance(driver, dict)
    if driver["version"] is None:  # this CPU machine: NVML and nvidia-smi both missing
        assert (driver["error"] and "NVML" in driver["error"]) or "nvidia-ml-py" in driver["error"]
        assert live["gpus"] == []


def test_nvml_absent_is_handled() -> None:
    """With pynvml unimportable the fingerprint still completes (a subprocess hides the module)."""
    code = (
        "import sys; sys.modules['pynvml'] = None\n"
        "from torchwarden.env import gpus\n"
        "r = gpus.from_nvml(); assert r['driver']['version'] is None, r\n"
        "assert 'nvidia-ml-py is not installed' in r['driver']['error'], r\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


SMI = """0, NVIDIA H100 80GB HBM3, 9.0, 81559, 5, 16, 5, 16, 570.124.06
1, NVIDIA H100 80GB HBM3, 9.0, 81559, 1, 16, 5, 16, 570.124.06
"""


def test_parse_nvidia_smi_output() -> None:
    parsed = gpus.parse_smi_csv(SMI)
    assert parsed["driver"] == {
        "version": "570.124.06",
        "cuda": None,
        "source": "nvidia-smi",
        "error": None,
    }
    assert [g["index"] for g in parsed["gpus"]] == [0, 1]
    assert parsed["gpus"][1]["pcie"] == {"gen": 1, "width": 16, "max_gen": 5, "max_width": 16}
    assert parsed["gpus"][0]["memory_bytes"] == 81559 << 20


def test_parse_nvidia_smi_survives_not_available_cells() -> None:
    parsed = gpus.parse_smi_csv("0, Tesla T4, 7.5, 15360, [N/A], [N/A], 3, 16, 535.54.03\n")
    assert parsed["gpus"][0]["pcie"]["gen"] is None
    assert parsed["gpus"][0]["compute_capability"] == "7.5"


@pytest.mark.parametrize(
    ("raw", "text"), [(90100, "9.1.0"), (8902, "8.9.2"), (91300, "9.13.0"), (None, None)]
)
def test_cudnn_version_text(raw: int | None, text: str | None) -> None:
    assert fingerprint.cudnn_text(raw) == text


def test_variables_are_picked_and_secrets_redacted() -> None:
    env = {"NCCL_P2P_DISABLE": "1", "HOME": "/root", "TORCH_HUB_TOKEN": "s3cret",
           "CUDA_VISIBLE_DEVICES": "", "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}  # fmt: skip
    picked = host.variables(env)
    assert picked == {"CUDA_VISIBLE_DEVICES": "", "NCCL_P2P_DISABLE": "1",
                      "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True", "TORCH_HUB_TOKEN": "<redacted>"}  # fmt: skip


def test_a_torch_part_that_failed_reads_as_an_error() -> None:
    part = fingerprint.torch_part_facts(
        {"status": "fail", "message": "crashed: killed by SIGSEGV (11)"}
    )
    assert part["torch"]["version"] is None and "SIGSEGV" in part["torch"]["error"]


def test_fingerprint_round_trips_through_the_schema(
    tmp_path: Path, live: dict[str, object]
) -> None:
    path = tmp_path / "env.json"
    report.save(report.make(live), path)
    loaded = report.load(path)
    assert loaded["schema"] == "torchwarden.env/1"
    assert loaded["fingerprint"] == json.loads(json.dumps(live))


@pytest.mark.parametrize(
    ("content", "match"),
    [("{not json", "is not JSON"), ('{"schema": "torchwarden.run/1"}', "expected 'torchwarden.env/1'"),
     ('{"schema": "torchwarden.env/2", "fingerprint": {}}', "Upgrade torchwarden"),
     ('{"schema": "torchwarden.env/1"}', "no 'fingerprint' object")],
)  # fmt: skip
def test_bad_fingerprint_files_say_what_is_wrong(tmp_path: Path, content: str, match: str) -> None:
    from torchwarden.errors import FingerprintError

    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(FingerprintError, match=match):
        report.load(path)
    with pytest.raises(FingerprintError, match="torchwarden doctor --json"):
        report.load(tmp_path / "missing.json")
