"""The driver and the physical GPUs: the one module that reads NVML (``nvidia-smi`` is the fallback).

NVML sees every GPU on the machine whatever ``CUDA_VISIBLE_DEVICES`` says, so these are the
physical GPUs (NVML index order); torch's view of them is recorded separately. It reads them
without creating a CUDA context. :func:`read_nvml` is the only NVML call site in torchwarden:
the fingerprint (:func:`driver_and_gpus`) and ``torchwarden gpus`` (``runtime.gpus``) both read
its :class:`NvmlReading`. Errors are recorded in the reading, never raised.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "NvmlGpu",
    "NvmlProcess",
    "NvmlReading",
    "driver_and_gpus",
    "from_nvidia_smi",
    "from_nvml",
    "parse_smi_csv",
    "read_nvml",
]

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
_PCIE = {
    "gen": "nvmlDeviceGetCurrPcieLinkGeneration",
    "width": "nvmlDeviceGetCurrPcieLinkWidth",
    "max_gen": "nvmlDeviceGetMaxPcieLinkGeneration",
    "max_width": "nvmlDeviceGetMaxPcieLinkWidth",
}


@dataclass(frozen=True)
class NvmlProcess:
    """A process with a CUDA context on a GPU."""

    pid: int
    used_bytes: int | None  # None where the driver does not say (containers, MIG)


@dataclass(frozen=True)
class NvmlGpu:
    """One physical GPU as NVML reports it; ``None`` where the board does not say."""

    index: int
    name: str
    memory_total: int  # bytes
    memory_used: int  # bytes
    compute_capability: str | None = None
    utilization: int | None = None  # percent of time a kernel ran, over the last sample period
    processes: tuple[NvmlProcess, ...] | None = None
    pcie: dict[str, int | None] = field(default_factory=dict)
    temperature: int | None = None  # degrees Celsius, the GPU die's sensor


@dataclass(frozen=True)
class NvmlReading:
    """What NVML said: the driver and every GPU, or ``error`` saying why it could not.

    ``source`` is ``"nvml"`` once NVML was initialised (a later query may still fail) and
    ``None`` when it could not be loaded at all.
    """

    source: str | None
    driver: str | None = None
    cuda: str | None = None  # the newest CUDA the driver supports, "13.0"
    gpus: tuple[NvmlGpu, ...] = ()
    error: str | None = None


def read_nvml() -> NvmlReading:
    """The driver and every GPU NVML sees; on any failure, the reason in ``error``."""
    try:
        import pynvml
    except ImportError:
        return NvmlReading(None, error="nvidia-ml-py is not installed (pip install nvidia-ml-py)")
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return NvmlReading(None, error=f"NVML init failed: {exc}")
    try:
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        return NvmlReading(
            "nvml",
            driver=_text(pynvml.nvmlSystemGetDriverVersion()),
            cuda=f"{cuda // 1000}.{cuda % 1000 // 10}",
            gpus=tuple(_nvml_gpu(pynvml, i) for i in range(pynvml.nvmlDeviceGetCount())),
        )
    except Exception as exc:
        return NvmlReading("nvml", error=f"NVML query failed: {exc}")
    finally:
        with contextlib.suppress(Exception):  # a half-initialised NVML's shutdown may fail
            pynvml.nvmlShutdown()


def _nvml_gpu(nvml: Any, index: int) -> NvmlGpu:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    capability = _maybe(lambda: "{}.{}".format(*nvml.nvmlDeviceGetCudaComputeCapability(handle)))
    running = _maybe(lambda: nvml.nvmlDeviceGetComputeRunningProcesses(handle))
    return NvmlGpu(
        index=index,
        name=_text(nvml.nvmlDeviceGetName(handle)),
        memory_total=int(memory.total),
        memory_used=int(memory.used),
        compute_capability=capability,
        utilization=_maybe(lambda: int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)),
        processes=None if running is None else tuple(_process(p) for p in running),
        pcie={key: _maybe(_reader(nvml, fn, handle)) for key, fn in _PCIE.items()},
        temperature=_maybe(
            lambda: int(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))
        ),
    )


def _reader(nvml: Any, fn: str, handle: Any) -> Callable[[], int]:
    return lambda: int(getattr(nvml, fn)(handle))


def _maybe(read: Callable[[], Any]) -> Any:
    # Utilization, processes, temperature and PCIe queries fail on some boards, under MIG, on
    # SXM/NVLink-only parts and in some VMs: record None and go on.
    try:
        return read()
    except Exception:
        return None


def _process(info: Any) -> NvmlProcess:
    used = getattr(info, "usedGpuMemory", None)
    return NvmlProcess(pid=int(info.pid), used_bytes=int(used) if used else None)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value  # older pynvml returns bytes


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
    """:func:`read_nvml` in the fingerprint's shape."""
    reading = read_nvml()
    if reading.error is not None:
        return _no_driver(reading.source, reading.error)
    driver = {"version": reading.driver, "cuda": reading.cuda, "source": "nvml", "error": None}
    gpus = [
        {
            "index": g.index,
            "name": g.name,
            "compute_capability": g.compute_capability,
            "memory_bytes": g.memory_total,
            "pcie": dict(g.pcie),
        }
        for g in reading.gpus
    ]
    return {"driver": driver, "gpus": gpus}


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
