"""The fingerprint: every fact about the software stack and hardware that the rules judge.

Collecting never raises: a fact that cannot be read is recorded as ``None`` with the reason,
because a broken environment is exactly what the doctor must describe. The layout is
documented in ``docs/env-schema.md``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import warnings
from typing import Any

from torchwarden.env import gpus, host

__all__ = ["assemble", "collect", "cudnn_text", "host_part", "torch_part"]


def collect(torch_part: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read the fingerprint of this environment.

    ``torch_part`` is the result of :func:`torch_part` run in a probe child; without it torch
    is imported here (and CUDA may be initialised in this process).
    """
    return assemble(host_part(), torch_part if torch_part is not None else torch_part_run())


def host_part() -> dict[str, Any]:
    """Every fact that needs no torch (NVML does not create a CUDA context)."""
    fp: dict[str, Any] = host.python_platform()
    fp["triton"] = {"version": _dist_version("triton", "pytorch-triton")}
    fp["toolchain"] = host.toolchain()
    fp.update(gpus.driver_and_gpus())
    fp["host"] = host.host()
    fp["variables"] = host.variables()
    return fp


def assemble(host_facts: dict[str, Any], torch_part: dict[str, Any]) -> dict[str, Any]:
    order = ("python", "platform", "torch", "numpy", "triton", "toolchain", "driver", "gpus")
    merged = {**host_facts, **torch_part_facts(torch_part)}
    return {key: merged[key] for key in (*order, *merged) if key in merged}


def torch_part_run() -> dict[str, Any]:
    return {
        "status": "ok",
        "message": "",
        "details": {"torch": torch_facts(), "numpy": numpy_facts()},
    }


torch_part = torch_part_run  # the probe-child entry point named in runner.FINGERPRINT


def torch_part_facts(result: dict[str, Any]) -> dict[str, Any]:
    """The torch and numpy sections from a child's result, or the reason they are missing."""
    details = result.get("details") or {}
    if "torch" in details and "numpy" in details:
        return {"torch": details["torch"], "numpy": details["numpy"]}
    error = f"reading torch facts failed: {result.get('message')}"
    return {
        "torch": {"version": None, "error": error},
        "numpy": {"version": None, "torch_interop": error},
    }


def torch_facts() -> dict[str, Any]:
    try:
        import torch
    except Exception as exc:  # a torch that cannot import is the headline finding
        return {"version": None, "error": f"import torch failed: {exc}"}
    facts: dict[str, Any] = {
        "version": torch.__version__,
        "git_version": torch.version.git_version,
        "cuda": torch.version.cuda,
        "hip": getattr(torch.version, "hip", None),
        "debug": bool(torch.version.debug),
        "arch_list": list(torch.cuda.get_arch_list()),
        "cudnn": None,
        "nccl": None,
        "error": None,
    }
    # torch warns (rather than raises) when the driver is too old or no GPU can be used
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        facts["cuda_available"] = torch.cuda.is_available()
        facts["device_count"] = torch.cuda.device_count() if facts["cuda_available"] else 0
    facts["cuda_warnings"] = [str(w.message) for w in caught]
    facts["devices"] = [_torch_device(torch, i) for i in range(facts["device_count"])]
    if facts["cuda"]:
        facts["cudnn"] = _guard(lambda: cudnn_text(torch.backends.cudnn.version()))  # type: ignore[no-untyped-call]
        facts["nccl"] = _guard(lambda: ".".join(map(str, torch.cuda.nccl.version())))  # type: ignore[no-untyped-call]
    return facts


def _torch_device(torch: Any, index: int) -> dict[str, Any]:
    props = torch.cuda.get_device_properties(index)
    return {
        "index": index,
        "name": props.name,
        "compute_capability": f"{props.major}.{props.minor}",
        "memory_bytes": int(props.total_memory),
        "multiprocessors": int(props.multi_processor_count),
    }


def cudnn_text(version: int | None) -> str | None:
    """cuDNN's integer version as text: 90100 -> "9.1.0" (cuDNN 9), 8902 -> "8.9.2" (cuDNN 8)."""
    if not version:
        return None
    scale = 10000 if version >= 90000 else 1000
    return f"{version // scale}.{version % scale // 100}.{version % 100}"


def _guard(read: Any) -> Any:
    try:
        return read()
    except Exception:  # a library torch cannot load reads as "not loaded"
        return None


def numpy_facts() -> dict[str, Any]:
    try:
        import numpy as np
    except ImportError:
        return {"version": None, "torch_interop": "numpy is not installed"}
    return {"version": np.__version__, "torch_interop": _numpy_interop(np)}


def _numpy_interop(np: Any) -> str:
    """Return "ok", or the error torch gives when its NumPy ABI does not match the installed NumPy."""
    try:
        import torch

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            back = torch.from_numpy(np.arange(3.0)).numpy()
        if caught and "NumPy" in str(caught[0].message):
            return str(caught[0].message)
        return "ok" if float(back.sum()) == 3.0 else "round trip changed values"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def _dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None
