"""Rules about the GPU stack: torch itself, driver vs the build's CUDA, arch list, Triton."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torchwarden.env import arch, tables
from torchwarden.env.verdict import Verdict, version_tuple

__all__ = ["arch_list", "driver_for_build", "listed_gpus", "torch_imports", "triton"]


def _cuda_build(fp: dict[str, Any]) -> tuple[int, int] | None:
    parts = version_tuple(fp.get("torch", {}).get("cuda"))
    return (parts[0], parts[1]) if len(parts) >= 2 else None


def driver_for_build(fp: dict[str, Any]) -> Iterator[Verdict]:
    build = _cuda_build(fp)
    driver_text = fp.get("driver", {}).get("version")
    if build is None:
        yield Verdict("skip", "torch is a CPU build; no CUDA driver needed")
        return
    if driver_text is None:
        if fp.get("gpus"):
            yield Verdict(
                "warn", "the driver version could not be read", "pip install nvidia-ml-py"
            )
        else:
            yield Verdict("skip", "no NVIDIA driver on this machine")
        return
    cuda = f"{build[0]}.{build[1]}"
    known = [v for v in tables.CUDA_DRIVER_MIN if v <= build]
    exact = tables.CUDA_DRIVER_MIN[max(known)] if known else None
    compat = tables.MINOR_COMPAT_DRIVER_MIN.get(build[0])
    driver = version_tuple(driver_text)
    upgrade = f"upgrade the NVIDIA driver to >= {exact}, or install a torch built for an older CUDA"
    if exact and driver >= version_tuple(exact):
        yield Verdict("ok", f"driver {driver_text} meets CUDA {cuda}'s minimum {exact}")
    elif compat and driver >= version_tuple(compat):
        yield Verdict(
            "warn",
            f"driver {driver_text} is below CUDA {cuda}'s minimum {exact}; it runs through "
            f"minor-version compatibility (no PTX JIT of newer PTX, some APIs missing)",
            upgrade,
        )
    else:
        floor = compat or exact or "?"
        yield Verdict(
            "fail",
            f"driver {driver_text} is too old for torch built with CUDA {cuda} (needs >= {floor})",
            upgrade,
        )


def listed_gpus(fp: dict[str, Any]) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = fp.get("gpus") or fp.get("torch", {}).get("devices") or []
    return listed


def torch_imports(fp: dict[str, Any]) -> Iterator[Verdict]:
    facts = fp.get("torch", {})
    if facts.get("version"):
        yield Verdict("ok", f"torch {facts['version']} imports")
        return
    yield Verdict(
        "fail",
        f"torch could not be read: {facts.get('error') or 'unknown error'}",
        "install torch for this machine: pip install torch (see https://pytorch.org/get-started)",
    )


def arch_list(fp: dict[str, Any]) -> Iterator[Verdict]:
    torch_facts = fp.get("torch", {})
    archs: list[str] = torch_facts.get("arch_list") or []
    if not listed_gpus(fp) or not torch_facts.get("version"):
        yield Verdict("skip", "no GPU, or no torch, to check against the arch list")
        return
    if not torch_facts.get("cuda"):
        yield Verdict(
            "fail",
            "this machine has NVIDIA GPUs but torch is a CPU-only build",
            "install a CUDA build: pip install torch --index-url https://download.pytorch.org/whl/cu128",
        )
        return
    for gpu in listed_gpus(fp):
        yield _arch_verdict(gpu, archs, torch_facts["cuda"])


def _arch_verdict(gpu: dict[str, Any], archs: list[str], cuda: str) -> Verdict:
    cc, subject = gpu.get("compute_capability") or "?", f"GPU {gpu.get('index')}"
    served = arch.serves(cc, archs)
    if served is None:
        tag = "cu" + cuda.replace(".", "")
        return Verdict(
            "fail",
            f"{tag} wheel on {subject} {gpu.get('name')} (compute capability {cc}): no kernel image "
            f"for it in the arch list {' '.join(archs)}",
            "install a torch wheel built for this GPU, e.g. pip install torch "
            "--index-url https://download.pytorch.org/whl/cu128 (sm_120 needs cu128 or newer)",
            subject,
        )
    kind, entry = served
    if kind == "ptx":
        return Verdict(
            "ok", f"{subject} ({cc}) runs JIT-compiled PTX from {entry} (slow first launch)",
            subject=subject,
        )  # fmt: skip
    return Verdict("ok", f"{subject} ({cc}) runs native code from {entry}", subject=subject)


def triton(fp: dict[str, Any]) -> Iterator[Verdict]:
    gpus = listed_gpus(fp)
    if not gpus or not fp.get("torch", {}).get("cuda"):
        yield Verdict("skip", "no GPU for Triton to compile for")
        return
    if not fp.get("triton", {}).get("version"):
        yield Verdict(
            "warn",
            "Triton is not installed: torch.compile cannot target the GPU",
            "pip install triton",
        )
        return
    floor = ".".join(map(str, tables.TRITON_MIN_CC))
    for gpu in gpus:
        cc = version_tuple(gpu.get("compute_capability"))
        subject = f"GPU {gpu.get('index')}"
        if cc and cc < tables.TRITON_MIN_CC:
            yield Verdict(
                "warn",
                f"{subject} {gpu.get('name')} has compute capability {gpu.get('compute_capability')}; Triton needs >= {floor}",
                'use torch.compile(backend="aot_eager") or run eager on this GPU',
                subject,
            )
        else:
            yield Verdict("ok", f"{subject} is supported by Triton", subject=subject)
