"""``env diff``: grouped differences tied to symptoms, and an exit code that says if they matter."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.env.env_helpers import FIXTURES, fixture, run_cli
from torchwarden.env.diff import diff
from torchwarden.env.doctor import judge_file

# A recorded GPU run (gpu-h100.json, ...) when one is committed, else the hand-written stand-in.
RECORDED_GPU = sorted(
    p.name for p in FIXTURES.glob("gpu-*.json") if p.name != "gpu-handwritten.json"
)
GPU = RECORDED_GPU[0] if RECORDED_GPU else "gpu-handwritten.json"
BASE = "gpu-handwritten.json"  # the broken-*.json fixtures are this file with one fact changed


def judged(name: str) -> dict[str, Any]:
    return judge_file(FIXTURES / name)


def find(differences: list[dict[str, Any]], group: str, key: str) -> dict[str, Any]:
    hits = [d for d in differences if d["group"] == group and d["key"] == key]
    assert hits, f"no {group}.{key} in {[(d['group'], d['key']) for d in differences]}"
    return hits[0]


def test_cpu_against_gpu() -> None:
    differences = diff(judged("cpu.json"), judged(GPU))
    assert {d["group"] for d in differences} >= {"versions", "hardware", "variables"}
    torch = find(differences, "versions", "torch")
    assert torch["matters"] and torch["a"].endswith("+cpu")
    count = find(differences, "hardware", "gpu_count")
    assert count["a"] == 0 and count["b"] >= 1 and count["matters"]
    assert count["symptom"] == "a different world size: per-GPU batch and NCCL topology change"
    assert not find(differences, "hardware", "cpu_count")["matters"]
    assert not find(differences, "probes", "kernel")["matters"]  # skip -> ok is no regression


def test_identical_environments_do_not_differ() -> None:
    assert diff(judged(GPU), judged(GPU)) == []


def test_small_shm_is_linked_to_bus_errors() -> None:
    differences = diff(judged(BASE), judged("broken-shm-64m.json"))
    shm = find(differences, "hardware", "shm_gib")
    assert shm["matters"] and "bus error" in shm["symptom"]
    rule = find(differences, "rules", "shm-size")
    assert (rule["a"], rule["b"], rule["matters"]) == ("ok", "fail", True)


def test_wheel_without_kernels_for_the_gpu_is_linked_to_no_kernel_image() -> None:
    differences = diff(judged(BASE), judged("broken-sm120-cu126.json"))
    rule = find(differences, "rules", "arch-list")
    assert "no kernel image" in rule["symptom"] and "cu126 wheel on GPU 0" in rule["symptom"]


def test_one_sides_wheel_on_the_other_sides_gpu() -> None:
    """A cu126 image built on an H100 box, then run on an RTX 5090 box with a cu128 torch."""
    h100 = judged("broken-sm120-cu126.json")
    h100["fingerprint"]["gpus"] = copy.deepcopy(judged(BASE)["fingerprint"]["gpus"])
    rtx = judged(BASE)
    rtx["fingerprint"]["gpus"][0].update(name="NVIDIA GeForce RTX 5090", compute_capability="12.0")
    cross = find(diff(h100, rtx), "versions", "arch_list vs B gpu0")
    assert cross["matters"]
    assert cross["symptom"] == (
        "cu126 wheel of A on the compute-capability 12.0 GPU of B: "
        "no kernel image is available for execution on the device"
    )


def test_debugging_variable_is_linked_to_its_cost() -> None:
    differences = diff(judged(BASE), judged("broken-nccl-p2p-disable.json"))
    p2p = find(differences, "variables", "NCCL_P2P_DISABLE")
    assert (p2p["a"], p2p["b"], p2p["matters"]) == (None, "1", True)
    assert "host memory" in p2p["symptom"]


def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    same = run_cli("env", "diff", str(FIXTURES / GPU), str(FIXTURES / GPU))
    assert same.returncode == 0, same.stdout + same.stderr
    out = tmp_path / "diff.json"
    differ = run_cli(
        "env", "diff", str(FIXTURES / "cpu.json"), str(FIXTURES / GPU), "--json", str(out)
    )
    assert differ.returncode == 1, differ.stdout + differ.stderr
    assert "versions" in differ.stdout and "hardware" in differ.stdout
    written = json.loads(out.read_text())
    assert written["schema"] == "torchwarden.envdiff/1" and written["differences"]
    missing = run_cli("env", "diff", str(tmp_path / "nope.json"), str(FIXTURES / GPU))
    assert missing.returncode == 2 and "torchwarden doctor --json" in missing.stderr


def test_only_cosmetic_differences_exit_0(tmp_path: Path) -> None:
    other = fixture(GPU)
    other["fingerprint"]["host"]["cpu_count"] = 64
    major_minor = other["fingerprint"]["python"]["version"].rsplit(".", 1)[0]
    other["fingerprint"]["python"]["version"] = f"{major_minor}.99"  # same minor: wheels load
    path = tmp_path / "other.json"
    path.write_text(json.dumps(other))
    done = run_cli("env", "diff", str(FIXTURES / GPU), str(path))
    assert done.returncode == 0, done.stdout
    assert "2 that do not" in done.stdout
