"""Rules: pure functions of a fingerprint, each a row in ``RULES``.

A rule yields one :class:`~torchwarden.env.verdict.Verdict` per subject it judges (the
machine, a GPU, a variable). To add one: write ``def my_rule(fp) -> Iterator[Verdict]`` in
``gpu_rules`` or ``host_rules`` and append a :class:`Rule` row to ``RULES``; thresholds and
tables belong in :mod:`torchwarden.env.tables`. Rules read only the fingerprint, so they run
the same on a live machine and on a recorded file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from torchwarden.env import gpu_rules, host_rules
from torchwarden.env.verdict import Verdict, severity, version_tuple
from torchwarden.findings import RuleFinding

__all__ = ["RULES", "Rule", "Verdict", "evaluate", "version_tuple"]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    symptom: str  # what a user sees when this rule fails; `env diff` quotes it
    check: Callable[[dict[str, Any]], Iterator[Verdict]]


RULES: tuple[Rule, ...] = (
    Rule("torch", "torch imports", "ModuleNotFoundError: No module named 'torch' (or a crash on import)", gpu_rules.torch_imports),
    Rule("driver-cuda", "driver meets the build's CUDA", "CUDA driver version is insufficient for CUDA runtime version", gpu_rules.driver_for_build),
    Rule("arch-list", "GPU compute capability in the arch list", "CUDA error: no kernel image is available for execution on the device", gpu_rules.arch_list),
    Rule("visible-devices", "CUDA_VISIBLE_DEVICES names devices", "torch.cuda.is_available() is False: training silently runs on the CPU", host_rules.visible_devices),
    Rule("shm-size", "/dev/shm is large enough", "DataLoader worker killed by signal: Bus error", host_rules.shm),
    Rule("debug-variables", "no debugging variables left set", "slow training or collectives with no error", host_rules.variables),
    Rule("triton", "Triton can compile for every GPU", "torch.compile fails: Triton only supports compute capability >= 7.0", gpu_rules.triton),
    Rule("toolchain", "compiler and Python headers for inductor", "torch.compile fails: InvalidCxxCompiler / Python.h: No such file", host_rules.toolchain),
    Rule("numpy-abi", "NumPy and torch ABIs match", "RuntimeError: Numpy is not available", host_rules.numpy_abi),
)  # fmt: skip


def evaluate(fp: dict[str, Any], rules: tuple[Rule, ...] = RULES) -> list[RuleFinding]:
    """Judge ``fp`` by every rule; one finding per verdict (``to_dict()`` is its JSON form)."""
    results: list[RuleFinding] = []
    for rule in rules:
        try:
            verdicts = list(rule.check(fp))
        except Exception as exc:  # a malformed recorded fingerprint must not hide other rules
            verdicts = [
                Verdict(
                    "fail",
                    f"rule could not read the fingerprint: {exc!r}",
                    "record a new fingerprint",
                )
            ]
        results.extend(_finding(rule, v) for v in verdicts)
    return results


def _finding(rule: Rule, v: Verdict) -> RuleFinding:
    return RuleFinding(
        rule=rule.id, title=rule.title, verdict=v.verdict, subject=v.subject, message=v.message,
        fix=v.fix, symptom=rule.symptom, severity=severity(v.verdict),
    )  # fmt: skip
