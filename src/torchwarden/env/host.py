"""Facts about the host that need no torch: Python, platform, CPU, memory, /dev/shm, container,
toolchain and the environment variables that change how PyTorch behaves."""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Any

__all__ = ["container", "host", "python_platform", "toolchain", "variables"]

# Names (exact or prefix) of the variables that decide devices, allocators and collectives.
_VARIABLE_NAMES = (
    "CUDA_VISIBLE_DEVICES",
    "CUDA_LAUNCH_BLOCKING",
    "CUDA_HOME",
    "CUDA_PATH",
    "LD_LIBRARY_PATH",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)
_VARIABLE_PREFIXES = ("NCCL_", "TORCH_", "TORCHDYNAMO_", "TORCHINDUCTOR_", "PYTORCH_", "TRITON_")
# Fingerprints get committed and shared: never record what looks like a credential.
_SECRET = re.compile(r"TOKEN|SECRET|PASSW|KEY|CREDENTIAL", re.IGNORECASE)


def python_platform() -> dict[str, Any]:
    include = sysconfig.get_paths().get("include", "")
    return {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "include_dir": include,
        },
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "libc": " ".join(platform.libc_ver()).strip() or None,
        },
    }


def toolchain() -> dict[str, Any]:
    """The C/C++ compilers and Python headers that inductor and Triton build extensions with."""
    include = Path(sysconfig.get_paths().get("include", ""))
    return {
        "cc": _which(os.environ.get("CC"), "gcc", "cc", "clang"),
        "cxx": _which(os.environ.get("CXX"), "g++", "c++", "clang++"),
        "python_headers": (include / "Python.h").is_file(),
    }


def _which(*names: str | None) -> str | None:
    for name in names:
        if name and (found := shutil.which(name)):
            return found
    return None


def host() -> dict[str, Any]:
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(affinity) if affinity is not None else None,
        "memory_bytes": _memory_bytes(),
        "cgroup_memory_limit_bytes": _cgroup_memory_limit(),
        "shm_bytes": _shm_bytes(),
        "container": container(),
    }


def _memory_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # psutil is a dependency, but a fingerprint must never fail for it
        return None


def _cgroup_memory_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        # cgroup v1 writes "no limit" as a huge page-aligned number
        return int(text) if text.isdigit() and int(text) < 1 << 60 else None
    return None


def _shm_bytes() -> int | None:
    try:
        st = os.statvfs("/dev/shm")
    except (OSError, AttributeError):
        return None
    return st.f_blocks * st.f_frsize


def container() -> dict[str, Any]:
    """Whether this looks like a container, and the evidence (markers differ per runtime)."""
    evidence: list[str] = []
    runtime: str | None = None
    for marker, name in (("/.dockerenv", "docker"), ("/run/.containerenv", "podman")):
        if os.path.exists(marker):
            evidence.append(marker)
            runtime = runtime or name
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        evidence.append("KUBERNETES_SERVICE_HOST")
        runtime = runtime or "kubernetes"
    if (value := os.environ.get("container")) is not None:  # noqa: SIM112 (systemd's lower-case name)
        evidence.append(f"container={value}")
        runtime = runtime or value or "unknown"
    try:
        cgroup = Path("/proc/1/cgroup").read_text()
    except OSError:
        cgroup = ""
    for word in ("docker", "kubepods", "containerd", "lxc"):
        if word in cgroup:
            evidence.append(f"/proc/1/cgroup mentions {word}")
            runtime = runtime or word
    return {"detected": bool(evidence), "runtime": runtime, "evidence": evidence}


def variables(environ: dict[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    picked: dict[str, str] = {}
    for name in sorted(env):
        if name in _VARIABLE_NAMES or name.startswith(_VARIABLE_PREFIXES):
            picked[name] = "<redacted>" if _SECRET.search(name) else env[name]
    return picked
