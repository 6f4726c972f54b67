"""A stand-in for ``pynvml`` (the driver's NVML), for machines without an NVIDIA driver.

Install it with ``monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(2))``: the one NVML
reader (``torchwarden.env.gpus.read_nvml``) then sees ``count`` H100s; GPU ``h`` has
``h`` GiB in use, a temperature of ``40 + h`` °C (GPU 3 has no sensor: its reading
fails, as on some boards) and this process running on GPU 0.
"""

from __future__ import annotations

import os
import types

GiB = 1 << 30


class FakeNVMLError(Exception):
    pass


def _temperature(handle: int, sensor: int) -> int:
    if handle == 3 or sensor != 0:
        raise FakeNVMLError("Not Supported")
    return 40 + handle


def fake_nvml(count: int) -> types.ModuleType:
    """The part of pynvml that env.gpus reads, answering for ``count`` H100s."""
    nvml = types.ModuleType("pynvml")
    me = types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=2 * GiB)
    functions = {
        "NVMLError": FakeNVMLError,
        "nvmlInit": lambda: None,
        "nvmlShutdown": lambda: None,
        "nvmlSystemGetDriverVersion": lambda: b"580.1",
        "nvmlSystemGetCudaDriverVersion": lambda: 13000,
        "nvmlDeviceGetCount": lambda: count,
        "nvmlDeviceGetHandleByIndex": lambda i: i,
        "nvmlDeviceGetName": lambda h: "NVIDIA H100 80GB HBM3",
        "nvmlDeviceGetCudaComputeCapability": lambda h: (9, 0),
        "nvmlDeviceGetMemoryInfo": lambda h: types.SimpleNamespace(used=h * GiB, total=80 * GiB),
        "nvmlDeviceGetUtilizationRates": lambda h: types.SimpleNamespace(gpu=10 * h),
        "nvmlDeviceGetComputeRunningProcesses": lambda h: [me] if h == 0 else [],
        "NVML_TEMPERATURE_GPU": 0,
        "nvmlDeviceGetTemperature": _temperature,
    }
    for name, value in functions.items():
        setattr(nvml, name, value)
    return nvml
