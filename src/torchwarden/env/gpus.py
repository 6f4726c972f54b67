"""The driver and the physical GPUs, read from NVML first and ``nvidia-smi`` only as a fallback.

NVML sees every GPU on the machine whatever ``CUDA_VISIBLE_DEVICES`` says, so these are the
physical GPUs (NVML index order); torch's view of them is recorded separately.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from typing import Any

__all__ = ["driver_and_gpus", "from_nvidia_smi", "from_nvml", "parse_smi_csv"]

_SMI_FIELDS = (
    "index",
    "name",
    "compute_cap",
    "memory.total",
    "pcie.link.gen.current",
    "pcie.link.width.current",
    "pcie.link.gen.max",
    "pcie.link.width.max",
    "driver_version",
)


def driver_and_gpus() -> dict[str, Any]:
    """``{"driver": {...}, "gpus": [...]}``; errors are recorded, never raised."""
    nvml = from_nvml()
    if nvml["driver"]["version"] is not None:
        return nvml
    smi = from_nvidia_smi()
    if smi["driver"]["version"] is not None:
        smi["driver"]["nvml_error"] = nvml["driver"]["error"]
        return smi
    nvml["driver"]["error"] = f"{nvml['driver']['error']}; {smi['driver']['error']}"
    return nvml


def _no_driver(source: str | None, error: str) -> dict[str, Any]:
    driver = {"version": None, "cuda": None, "source": source, "error": error}
    return {"driver": driver, "gpus": []}


def from_nvml() -> dict[str, Any]:
    try:
        import pynvml
    except ImportError:
        return _no_driver(None, "nvidia-ml-py is not installed (pip install nvidia-ml-py)")
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return _no_driver(None, f"NVML init failed: {exc}")
    try:
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        driver = {
            "version": _text(pynvml.nvmlSystemGetDriverVersion()),
            "cuda": f"{cuda // 1000}.{cuda % 1000 // 10}",
            "source": "nvml",
            "error": None,
        }
        count = pynvml.nvmlDeviceGetCount()
        gpus = [_nvml_gpu(pynvml, i) for i in range(count)]
        return {"driver": driver, "gpus": gpus}
    except Exception as exc:
        return _no_driver("nvml", f"NVML query failed: {exc}")
    finally:
        with contextlib.suppress(Exception):  # a half-initialised NVML's shutdown may fail
            pynvml.nvmlShutdown()


def _nvml_gpu(pynvml: Any, index: int) -> dict[str, Any]:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)

    def maybe(fn: str) -> int | None:
        # PCIe queries fail on SXM/NVLink-only parts and in some VMs: record None, go on
        try:
            return int(getattr(pynvml, fn)(handle))
        except Exception:
            return None

    return {
        "index": index,
        "name": _text(pynvml.nvmlDeviceGetName(handle)),
        "compute_capability": f"{major}.{minor}",
        "memory_bytes": int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
        "pcie": {
            "gen": maybe("nvmlDeviceGetCurrPcieLinkGeneration"),
            "width": maybe("nvmlDeviceGetCurrPcieLinkWidth"),
            "max_gen": maybe("nvmlDeviceGetMaxPcieLinkGeneration"),
            "max_width": maybe("nvmlDeviceGetMaxPcieLinkWidth"),
        },
    }


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def from_nvidia_smi(timeout_s: float = 10.0) -> dict[str, Any]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return _no_driver(None, "nvidia-smi is not on PATH")
    query = f"--query-gpu={','.join(_SMI_FIELDS)}"
    try:
        out = subprocess.run(
            [exe, query, "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError) as exc:
        return _no_driver("nvidia-smi", f"nvidia-smi failed: {exc}")
    return parse_smi_csv(out)


def parse_smi_csv(text: str) -> dict[str, Any]:
    """Parse ``nvidia-smi --query-gpu=<_SMI_FIELDS> --format=csv,noheader,nounits`` output."""
    gpus: list[dict[str, Any]] = []
    driver_version: str | None = None
    for line in text.strip().splitlines():
        cells = dict(zip(_SMI_FIELDS, (c.strip() for c in line.split(","))))
        driver_version = cells.get("driver_version") or driver_version
        gpus.append(
            {
                "index": _int(cells.get("index")),
                "name": cells.get("name"),
                "compute_capability": cells.get("compute_cap"),
                "memory_bytes": (_int(cells.get("memory.total")) or 0) << 20,  # reported in MiB
                "pcie": {
                    "gen": _int(cells.get("pcie.link.gen.current")),
                    "width": _int(cells.get("pcie.link.width.current")),
                    "max_gen": _int(cells.get("pcie.link.gen.max")),
                    "max_width": _int(cells.get("pcie.link.width.max")),
                },
            }
        )
    error = None if driver_version else "nvidia-smi listed no GPU"
    driver = {"version": driver_version, "cuda": None, "source": "nvidia-smi", "error": error}
    return {"driver": driver, "gpus": gpus}


def _int(cell: str | None) -> int | None:
    try:
        return int(cell) if cell is not None else None
    except ValueError:  # "[N/A]"
        return None
