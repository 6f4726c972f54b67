"""Rules about the host: visible devices, /dev/shm, debugging variables, toolchain, NumPy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torchwarden.env import tables
from torchwarden.env.verdict import Verdict, version_tuple
from torchwarden.units import format_bytes

__all__ = ["numpy_abi", "shm", "toolchain", "variables", "visible_devices"]


def visible_devices(fp: dict[str, Any]) -> Iterator[Verdict]:
    value = fp.get("variables", {}).get("CUDA_VISIBLE_DEVICES")
    if value is None or value.strip():
        yield Verdict("ok", "CUDA_VISIBLE_DEVICES is unset or names devices")
        return
    level = "fail" if fp.get("gpus") else "warn"
    yield Verdict(
        level,
        "CUDA_VISIBLE_DEVICES is set but empty: torch sees no GPU and runs on the CPU",
        "unset CUDA_VISIBLE_DEVICES, or list devices: export CUDA_VISIBLE_DEVICES=0",
        "CUDA_VISIBLE_DEVICES",
    )


def shm(fp: dict[str, Any]) -> Iterator[Verdict]:
    size = fp.get("host", {}).get("shm_bytes")
    if size is None:
        yield Verdict("skip", "no /dev/shm on this system")
        return
    text = f"/dev/shm is {format_bytes(size)}"
    fix = "docker run --shm-size=16g (or --ipc=host); on a host: mount -o remount,size=16G /dev/shm"
    if size < tables.SHM_FAIL_BYTES:
        yield Verdict("fail", f"{text}: DataLoader workers will die with bus errors", fix)
    elif size < tables.SHM_WARN_BYTES:
        under = f"under {format_bytes(tables.SHM_WARN_BYTES)}"
        yield Verdict("warn", f"{text} ({under}): large batches from workers may not fit", fix)
    else:
        yield Verdict("ok", text)


def variables(fp: dict[str, Any]) -> Iterator[Verdict]:
    env = fp.get("variables", {})
    hits = [r for r in tables.VARIABLE_RULES if r.matches(env.get(r.name))]
    for r in hits:
        yield Verdict("warn", f"{r.name}={env[r.name]}: {r.message} ({r.symptom})", r.fix, r.name)
    if not hits:
        yield Verdict("ok", "no debugging variable left set")


def toolchain(fp: dict[str, Any]) -> Iterator[Verdict]:
    tools = fp.get("toolchain", {})
    missing = [name for name in ("cc", "cxx") if not tools.get(name)]
    if not tools.get("python_headers"):
        missing.append("Python headers")
    if missing:
        yield Verdict(
            "warn",
            f"torch.compile (inductor) cannot build kernels: missing {', '.join(missing)}",
            "apt-get install build-essential python3-dev (or set CC/CXX to a compiler)",
        )
    else:
        yield Verdict("ok", f"compilers {tools['cc']}, {tools['cxx']} and Python headers present")


def numpy_abi(fp: dict[str, Any]) -> Iterator[Verdict]:
    facts = fp.get("numpy", {})
    torch_version = version_tuple(fp.get("torch", {}).get("version"))
    numpy_version = version_tuple(facts.get("version"))
    fix = 'pip install "numpy<2", or upgrade torch to >= 2.3'
    if not numpy_version:
        yield Verdict("skip", "NumPy is not installed")
    elif facts.get("torch_interop") not in (None, "ok"):
        yield Verdict(
            "fail", f"torch cannot use NumPy {facts['version']}: {facts['torch_interop']}", fix
        )
    elif numpy_version[0] >= 2 and torch_version and torch_version < tables.NUMPY2_MIN_TORCH:
        yield Verdict(
            "fail", f"torch {torch_version} was built for NumPy 1.x, found {facts['version']}", fix
        )
    else:
        yield Verdict("ok", f"NumPy {facts['version']} works with torch")
