"""``env diff``: how two environments differ, grouped, each difference tied to what it breaks.

A difference *matters* when it is known to change behaviour (a version, a GPU, a variable
that steers NCCL or the allocator, a rule or probe that got worse); the ``SYMPTOMS`` table
says which and what the user would see.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from torchwarden.env import arch, report, rules, tables
from torchwarden.env.verdict import LEVELS
from torchwarden.findings import Finding, ProbeFinding, RuleFinding

__all__ = ["GROUPS", "SYMPTOMS", "diff", "facts"]

GROUPS = ("versions", "hardware", "variables", "rules", "probes")

Fact = Any
Matters = Callable[[Fact, Fact], bool]


def _always(a: Fact, b: Fact) -> bool:
    return True


def _never(a: Fact, b: Fact) -> bool:
    return False


def _major_minor(a: Fact, b: Fact) -> bool:
    return rules.version_tuple(a)[:2] != rules.version_tuple(b)[:2]


def _major(a: Fact, b: Fact) -> bool:
    return rules.version_tuple(a)[:1] != rules.version_tuple(b)[:1]


def _small_shm(a: Fact, b: Fact) -> bool:
    return min(a or 0, b or 0) < tables.SHM_WARN_BYTES / tables.GIB  # facts are in GiB


# "group.key" (or "group.key*" for a prefix) -> (does a change matter?, what it causes)
SYMPTOMS: dict[str, tuple[Matters, str]] = {
    "versions.python": (_major_minor, "pickles, wheels and C extensions built for one Python may not load"),
    "versions.torch": (_always, "different kernels, numerics and torch.compile behaviour"),
    "versions.torch_git": (_never, "a different build of torch"),
    "versions.cuda_build": (_always, "the driver minimum and the GPUs with native kernels change"),
    "versions.arch_list": (_always, "GPUs outside the arch list fail: no kernel image is available for execution on the device"),
    "versions.cudnn": (_always, "different convolution algorithms: speed and last-bit numerics differ"),
    "versions.nccl": (_always, "collectives differ in speed; mixed NCCL versions across ranks hang"),
    "versions.driver": (_always, "a driver older than the build's CUDA minimum: CUDA driver version is insufficient"),
    "versions.driver_cuda": (_never, "the newest CUDA the driver supports"),
    "versions.numpy": (_major, "NumPy 1 vs 2: 'Numpy is not available' under torch < 2.3"),
    "versions.triton": (_always, "torch.compile generates different GPU kernels"),
    "hardware.gpu_count": (_always, "a different world size: per-GPU batch and NCCL topology change"),
    "hardware.gpu*.name": (_always, "different speed and memory: batch sizes and timings do not carry over"),
    "hardware.gpu*.compute_capability": (_always, "kernels built for one compute capability may not run on the other (no kernel image)"),
    "hardware.gpu*.memory_gib": (_always, "CUDA out of memory at a batch size that fit on the other"),
    "hardware.gpu*.pcie": (_always, "host<->device copies at a different speed"),
    "hardware.shm_gib": (_small_shm, "64 MiB /dev/shm with DataLoader workers: bus error"),
    "hardware.cpu_count": (_never, "DataLoader num_workers tuned on one may starve the other"),
    "hardware.memory_gib": (_never, "host RAM: pinned buffers and worker prefetch may not fit"),
    "hardware.container": (_never, "inside vs outside a container: /dev/shm and limits differ"),
    "variables.CUDA_VISIBLE_DEVICES": (_always, "different GPUs visible to torch"),
    "variables.PYTORCH_CUDA_ALLOC_CONF": (_always, "different allocator behaviour: fragmentation and OOM at other sizes"),
    "variables.PYTORCH_ALLOC_CONF": (_always, "different allocator behaviour: fragmentation and OOM at other sizes"),
    "variables.LD_LIBRARY_PATH": (_always, "a different CUDA/cuDNN/NCCL library than the wheel's may load"),
    "variables.NCCL_*": (_always, "collectives configured differently"),
    "variables.TORCH*": (_always, "torch configured differently"),
    "variables.*": (_never, ""),
}  # fmt: skip
for _rule in tables.VARIABLE_RULES:
    SYMPTOMS[f"variables.{_rule.name}"] = (_always, _rule.symptom)


def _gib(n: int | None) -> float | None:
    return None if n is None else round(n / tables.GIB, 1)


def facts(document: dict[str, Any]) -> dict[str, dict[str, Fact]]:
    """The comparable facts of one ``torchwarden.env/1`` document, by group."""
    fp = document["fingerprint"]
    t, drv, host = fp.get("torch", {}), fp.get("driver", {}), fp.get("host", {})
    gpus = fp.get("gpus") or t.get("devices") or []
    hardware: dict[str, Fact] = {"gpu_count": len(gpus)}
    for g in gpus:
        prefix = f"gpu{g.get('index')}"
        hardware[f"{prefix}.name"] = g.get("name")
        hardware[f"{prefix}.compute_capability"] = g.get("compute_capability")
        hardware[f"{prefix}.memory_gib"] = _gib(g.get("memory_bytes"))
        pcie = g.get("pcie") or {}
        hardware[f"{prefix}.pcie"] = (
            f"gen{pcie.get('max_gen')} x{pcie.get('max_width')}" if pcie else None
        )
    hardware |= {"shm_gib": _gib(host.get("shm_bytes")), "cpu_count": host.get("cpu_count"),
                 "memory_gib": _gib(host.get("memory_bytes")),
                 "container": (host.get("container") or {}).get("runtime")}  # fmt: skip
    versions = {
        "python": fp.get("python", {}).get("version"), "torch": t.get("version"),
        "torch_git": t.get("git_version"), "cuda_build": t.get("cuda"),
        "arch_list": " ".join(t.get("arch_list") or []) or None, "cudnn": t.get("cudnn"),
        "nccl": t.get("nccl"), "driver": drv.get("version"), "driver_cuda": drv.get("cuda"),
        "numpy": fp.get("numpy", {}).get("version"), "triton": fp.get("triton", {}).get("version"),
    }  # fmt: skip
    verdicts: dict[str, str] = {}
    for r in _rules(document):  # a rule's worst verdict over its subjects
        verdicts[r.rule] = max(verdicts.get(r.rule, "skip"), r.verdict, key=LEVELS.index)
    statuses = {p.probe: p.status for p in _probes(document)}
    return {"versions": versions, "hardware": hardware, "variables": dict(fp.get("variables", {})),
            "rules": verdicts, "probes": statuses}  # fmt: skip


def _rules(document: dict[str, Any]) -> list[RuleFinding]:
    return [f for f in report.findings(document, "rules") if isinstance(f, RuleFinding)]


def _probes(document: dict[str, Any]) -> list[ProbeFinding]:
    return [f for f in report.findings(document, "probes") if isinstance(f, ProbeFinding)]


def _lookup(group: str, key: str) -> tuple[Matters, str]:
    """The most specific ``SYMPTOMS`` row: exact key, then gpuN -> gpu*, then a prefix."""
    patterns = [key, re.sub(r"^gpu\d+", "gpu*", key)]
    patterns += [f"{prefix}*" for prefix in ("NCCL_", "TORCH") if key.startswith(prefix)]
    for pattern in [*patterns, "*"]:
        if f"{group}.{pattern}" in SYMPTOMS:
            return SYMPTOMS[f"{group}.{pattern}"]
    return _always, ""


def _level_change(
    group: str, key: str, a: Fact, b: Fact, worse: dict[str, Any]
) -> tuple[bool, str]:
    """Rules matter when either side warns or fails, probes when either fails."""
    finding = _worst(worse, group, key)
    detail = f" ({finding.message})" if finding and finding.message else ""
    if group == "rules":
        rule = next((r for r in rules.RULES if key == r.id), None)
        return bool({a, b} & {"warn", "fail"}), (rule.symptom if rule else "") + detail
    return "fail" in (a, b), f"probe {key}: {a or 'missing'} in A, {b or 'missing'} in B{detail}"


def _worst(document: dict[str, Any], group: str, key: str) -> Finding | None:
    found: list[Finding] = (
        [r for r in _rules(document) if r.rule == key]
        if group == "rules"
        else [p for p in _probes(document) if p.probe == key]
    )
    return max(found, key=lambda f: LEVELS.index(report.level(f)), default=None)


def diff(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Every difference between reports ``a`` and ``b``; see ``docs/doctor.md`` for the fields."""
    fa, fb = facts(a), facts(b)
    out: list[dict[str, Any]] = []
    for group in GROUPS:
        for key in sorted(set(fa[group]) | set(fb[group])):
            va, vb = fa[group].get(key), fb[group].get(key)
            if va == vb:
                continue
            if group in ("rules", "probes"):
                worse = b if LEVELS.index(vb or "skip") >= LEVELS.index(va or "skip") else a
                matters, symptom = _level_change(group, key, va, vb, worse)
            else:
                predicate, symptom = _lookup(group, key)
                matters = predicate(va, vb)
            out.append(_difference(group, key, va, vb, matters, symptom))
    out.extend(_cross_arch(a, b))
    return out


def _difference(
    group: str, key: str, a: Fact, b: Fact, matters: bool, symptom: str
) -> dict[str, Any]:
    return {"group": group, "key": key, "a": a, "b": b, "matters": matters, "symptom": symptom}


def _cross_arch(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """The classic: one side's wheel on the other side's GPU -> no kernel image."""
    found: list[dict[str, Any]] = []
    for wheel_side, gpu_side, wheel, host in (("A", "B", a, b), ("B", "A", b, a)):
        t = wheel["fingerprint"].get("torch", {})
        archs, cuda = t.get("arch_list") or [], t.get("cuda")
        host_fp = host["fingerprint"]
        gpus = (
            (host_fp.get("gpus") or host_fp.get("torch", {}).get("devices") or []) if cuda else []
        )
        for gpu in gpus:
            cc = gpu.get("compute_capability") or "?"
            if arch.serves(cc, archs) is not None:
                continue
            wheel_text, tag = " ".join(archs), "cu" + str(cuda).replace(".", "")
            symptom = (f"{tag} wheel of {wheel_side} on the compute-capability {cc} GPU of "
                       f"{gpu_side}: no kernel image is available for execution on the device")  # fmt: skip
            pair = (wheel_text, cc) if wheel_side == "A" else (cc, wheel_text)
            key = f"arch_list vs {gpu_side} gpu{gpu.get('index')}"
            found.append(_difference("versions", key, pair[0], pair[1], True, symptom))
    return found
