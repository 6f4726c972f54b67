"""Rules judged on recorded fingerprints, healthy and broken, and on the tables behind them."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.env.env_helpers import fingerprint
from torchwarden.env import arch, rules, tables
from torchwarden.findings import RuleFinding, finding_from_dict


def verdicts(fp: dict[str, Any], rule_id: str) -> list[RuleFinding]:
    found = [r for r in rules.evaluate(fp) if r.rule == rule_id]
    assert found, f"rule {rule_id} produced no verdict"
    return found


def worst(fp: dict[str, Any], rule_id: str) -> str:
    levels = ("skip", "ok", "warn", "fail")
    return max((r.verdict for r in verdicts(fp, rule_id)), key=levels.index)


@pytest.mark.parametrize("name", ["cpu.json", "gpu-handwritten.json"])
def test_healthy_fingerprints_have_no_warning_or_failure(name: str) -> None:
    results = rules.evaluate(fingerprint(name))
    assert {r.verdict for r in results} <= {"ok", "skip"}, results
    for r in results:
        assert isinstance(r, RuleFinding) and r.severity == "info"
        assert {"kind", "message", "fix", "rule", "verdict", "severity"} <= set(r.to_dict())
        assert r.kind == "rule" and finding_from_dict(r.to_dict()) == r


@pytest.mark.parametrize(
    ("name", "rule_id", "level", "phrase"),
    [
        ("broken-old-driver.json", "driver-cuda", "fail", "too old for torch built with CUDA 13.0"),
        ("broken-compat-driver.json", "driver-cuda", "warn", "minor-version compatibility"),
        ("broken-sm120-cu126.json", "arch-list", "fail", "cu126 wheel on GPU 0"),
        ("broken-shm-64m.json", "shm-size", "fail", "/dev/shm is 64.0 MiB"),
        ("broken-empty-visible-devices.json", "visible-devices", "fail", "set but empty"),
        ("broken-nccl-p2p-disable.json", "debug-variables", "warn", "NCCL_P2P_DISABLE=1"),
        ("broken-no-compiler.json", "toolchain", "warn", "missing cc, cxx"),
    ],
)
def test_broken_fingerprint_is_caught(name: str, rule_id: str, level: str, phrase: str) -> None:
    found = verdicts(fingerprint(name), rule_id)
    assert worst(fingerprint(name), rule_id) == level
    bad = [r for r in found if r.verdict == level]
    assert any(phrase in r.message for r in bad), bad
    assert all(r.fix for r in bad), "every warning or failure says how to fix it"
    assert {r.severity for r in bad} == {"error" if level == "fail" else "warning"}


def with_driver(cuda: str, driver: str) -> dict[str, Any]:
    fp = copy.deepcopy(fingerprint("gpu-handwritten.json"))
    fp["torch"]["cuda"] = cuda
    fp["driver"]["version"] = driver
    return fp


@pytest.mark.parametrize(
    ("cuda", "driver", "level"),
    [
        ("11.8", "520.61.05", "ok"),
        ("11.8", "470.82.01", "warn"),  # 11.x minor-version compatibility from 450.80.02
        ("11.8", "440.33.01", "fail"),
        ("12.4", "550.54.14", "ok"),
        ("12.6", "560.28.03", "ok"),
        ("12.6", "555.42.02", "warn"),
        ("12.8", "570.26", "ok"),
        ("12.8", "570.124.06", "ok"),  # 124 > 26: compared as numbers, not text
        ("12.8", "525.60.13", "warn"),
        ("12.8", "520.61.05", "fail"),
        ("12.9", "575.51.03", "ok"),
        ("13.0", "580.65.06", "ok"),
        ("13.0", "575.57.08", "fail"),
        ("12.7", "565.57.01", "ok"),  # no row for 12.7: the nearest older toolkit's minimum
    ],
)
def test_driver_table(cuda: str, driver: str, level: str) -> None:
    assert worst(with_driver(cuda, driver), "driver-cuda") == level


def test_driver_table_matches_nvidia_minimums_named_in_the_issue() -> None:
    expected = {(11, 8): "520.61.05", (12, 0): "525.60.13", (12, 4): "550.54.14", (12, 6): "560.28.03",
                (12, 8): "570.26", (12, 9): "575.51.03", (13, 0): "580.65.06"}  # fmt: skip
    assert expected.items() <= tables.CUDA_DRIVER_MIN.items()


@pytest.mark.parametrize(
    ("cc", "archs", "served"),
    [
        ("9.0", ["sm_80", "sm_90"], ("sass", "sm_90")),
        ("8.9", ["sm_80", "sm_86"], ("sass", "sm_80")),  # same major, older minor runs
        ("12.0", ["sm_80", "sm_90"], None),  # the cu126 wheel on an RTX 50xx
        ("12.0", ["sm_90", "compute_90"], ("ptx", "compute_90")),
        ("9.0", ["sm_90a"], ("sass", "sm_90a")),
        ("10.3", ["sm_100a"], None),  # arch-specific code runs on exactly one capability
        ("10.3", ["sm_100f"], ("sass", "sm_100f")),  # family code runs across the family
        ("7.5", ["compute_80"], None),  # PTX never runs on an older GPU
    ],
)
def test_arch_serves(cc: str, archs: list[str], served: tuple[str, str] | None) -> None:
    assert arch.serves(cc, archs) == served


def test_cpu_build_on_a_gpu_machine_fails() -> None:
    fp = copy.deepcopy(fingerprint("gpu-handwritten.json"))
    fp["torch"].update(cuda=None, arch_list=[], version="2.11.0+cpu")
    [finding] = verdicts(fp, "arch-list")
    assert finding.verdict == "fail" and "CPU-only build" in finding.message


def test_empty_visible_devices_only_warns_without_gpus() -> None:
    fp = copy.deepcopy(fingerprint("cpu.json"))
    fp["variables"]["CUDA_VISIBLE_DEVICES"] = ""
    assert worst(fp, "visible-devices") == "warn"


def test_triton_needs_compute_capability_7() -> None:
    fp = copy.deepcopy(fingerprint("gpu-handwritten.json"))
    fp["gpus"][0].update(name="Tesla P100-PCIE-16GB", compute_capability="6.0")
    fp["torch"]["arch_list"] = ["sm_60", "sm_90"]
    [finding] = verdicts(fp, "triton")
    assert finding.verdict == "warn" and "Triton needs >= 7.0" in finding.message


@pytest.mark.parametrize(
    ("numpy", "interop", "torch", "level"),
    [("2.1.0", "ok", "2.2.2", "fail"), ("1.26.4", "ok", "2.2.2", "ok"), ("2.1.0", "ok", "2.5.0", "ok"),
     ("2.1.0", "RuntimeError: Numpy is not available", "2.5.0", "fail")],
)  # fmt: skip
def test_numpy_abi(numpy: str, interop: str, torch: str, level: str) -> None:
    fp = copy.deepcopy(fingerprint("cpu.json"))
    fp["numpy"] = {"version": numpy, "torch_interop": interop}
    fp["torch"]["version"] = torch
    assert worst(fp, "numpy-abi") == level


def test_variable_rules_are_data() -> None:
    fp = copy.deepcopy(fingerprint("cpu.json"))
    fp["variables"] |= {"NCCL_DEBUG": "WARN", "CUDA_LAUNCH_BLOCKING": "1", "NCCL_IB_DISABLE": "0"}
    flagged = {r.subject for r in verdicts(fp, "debug-variables") if r.verdict == "warn"}
    assert flagged == {"CUDA_LAUNCH_BLOCKING"}  # NCCL_DEBUG=WARN and a 0 are harmless


def test_a_malformed_fingerprint_fails_one_rule_not_the_doctor() -> None:
    fp = copy.deepcopy(fingerprint("cpu.json"))
    fp["host"] = {"shm_bytes": "lots"}
    shm = verdicts(fp, "shm-size")
    assert shm[0].verdict == "fail" and "could not read" in shm[0].message
    assert len({r.rule for r in rules.evaluate(fp)}) == len(rules.RULES)


@given(
    st.lists(st.integers(0, 999), min_size=1, max_size=4),
    st.lists(st.integers(0, 999), min_size=1, max_size=4),
)
def test_version_tuple_orders_like_numbers(a: list[int], b: list[int]) -> None:
    text_a, text_b = ".".join(map(str, a)), ".".join(map(str, b))
    assert (rules.version_tuple(text_a) < rules.version_tuple(text_b)) == (tuple(a) < tuple(b))


def test_torch_that_cannot_be_read_is_the_headline() -> None:
    fp = copy.deepcopy(fingerprint("gpu-handwritten.json"))
    fp["torch"] = {
        "version": None,
        "error": "reading torch facts failed: crashed: killed by SIGSEGV (11)",
    }
    assert worst(fp, "torch") == "fail"
    assert "SIGSEGV" in verdicts(fp, "torch")[0].message
    assert worst(fp, "arch-list") == "skip"  # not a misleading "CPU-only build"
