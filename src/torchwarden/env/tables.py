"""The facts the rules judge by, kept as plain data so that extending a rule is adding a row.

Sources: NVIDIA's CUDA Toolkit release notes (table 3, "CUDA Toolkit and minimum required
driver version", Linux x86_64) and the minor-version-compatibility table beside it; NCCL
and PyTorch documentation of their environment variables.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CUDA_DRIVER_MIN",
    "GIB",
    "MIB",
    "MINOR_COMPAT_DRIVER_MIN",
    "NUMPY2_MIN_TORCH",
    "SHM_FAIL_BYTES",
    "SHM_WARN_BYTES",
    "TRITON_MIN_CC",
    "VARIABLE_RULES",
    "VariableRule",
]

MIB = 1 << 20
GIB = 1 << 30

# CUDA toolkit (major, minor) -> minimum Linux driver of its GA release.
CUDA_DRIVER_MIN: dict[tuple[int, int], str] = {
    (11, 6): "510.39.01",
    (11, 7): "515.43.04",
    (11, 8): "520.61.05",
    (12, 0): "525.60.13",
    (12, 1): "530.30.02",
    (12, 2): "535.54.03",
    (12, 3): "545.23.06",
    (12, 4): "550.54.14",
    (12, 5): "555.42.02",
    (12, 6): "560.28.03",
    (12, 8): "570.26",
    (12, 9): "575.51.03",
    (13, 0): "580.65.06",
}

# CUDA major -> oldest driver that still runs any toolkit of that major through
# minor-version compatibility (without PTX JIT of newer PTX, and without some new APIs).
MINOR_COMPAT_DRIVER_MIN: dict[int, str] = {
    11: "450.80.02",
    12: "525.60.13",
    13: "580.65.06",
}

# /dev/shm backs DataLoader worker batches; Docker's default is 64 MiB.
SHM_FAIL_BYTES = 256 * MIB
SHM_WARN_BYTES = 1 * GIB

# Triton (torch.compile's GPU code generator) supports compute capability 7.0 and newer.
TRITON_MIN_CC = (7, 0)

# torch wheels older than this were built against NumPy 1.x and cannot use NumPy 2.
NUMPY2_MIN_TORCH = (2, 3)


@dataclass(frozen=True)
class VariableRule:
    """A variable that, when it matches ``values`` (any non-empty value when empty), earns a warning.

    These are almost always left over from a debugging session and cost speed or hide failures.
    """

    name: str
    message: str
    fix: str
    symptom: str
    values: frozenset[str] = frozenset()

    def matches(self, value: str | None) -> bool:
        if value is None or value == "":
            return False
        return not self.values or value.strip().upper() in self.values


_ONE = frozenset({"1", "TRUE", "YES", "ON"})

VARIABLE_RULES: tuple[VariableRule, ...] = (
    VariableRule(
        "NCCL_P2P_DISABLE",
        "NCCL peer-to-peer transport is disabled",
        "unset NCCL_P2P_DISABLE unless the GPUs' P2P path is known to be broken",
        "all-reduce goes through host memory: collectives several times slower",
        _ONE,
    ),
    VariableRule(
        "NCCL_SHM_DISABLE",
        "NCCL shared-memory transport is disabled",
        "unset NCCL_SHM_DISABLE",
        "intra-node collectives fall back to slower transports",
        _ONE,
    ),
    VariableRule(
        "NCCL_IB_DISABLE",
        "NCCL InfiniBand transport is disabled",
        "unset NCCL_IB_DISABLE on machines with InfiniBand",
        "multi-node collectives fall back to TCP sockets: much slower",
        _ONE,
    ),
    VariableRule(
        "NCCL_DEBUG",
        "NCCL verbose logging is on",
        "unset NCCL_DEBUG (or set NCCL_DEBUG=WARN)",
        "log floods and slower communicator setup",
        frozenset({"INFO", "TRACE"}),
    ),
    VariableRule(
        "NCCL_DEBUG_SUBSYS",
        "NCCL subsystem debugging is selected",
        "unset NCCL_DEBUG_SUBSYS",
        "log floods",
    ),
    VariableRule(
        "NCCL_ALGO",
        "an NCCL algorithm is forced",
        "unset NCCL_ALGO and let NCCL tune itself",
        "collectives slower on topologies the forced algorithm does not suit",
    ),
    VariableRule(
        "NCCL_PROTO",
        "an NCCL protocol is forced",
        "unset NCCL_PROTO and let NCCL tune itself",
        "collectives slower on topologies the forced protocol does not suit",
    ),
    VariableRule(
        "CUDA_LAUNCH_BLOCKING",
        "every CUDA kernel launch is synchronous",
        "unset CUDA_LAUNCH_BLOCKING (it is for locating a failing kernel)",
        "training several times slower, GPU idle between kernels",
        _ONE,
    ),
    VariableRule(
        "PYTORCH_NO_CUDA_MEMORY_CACHING",
        "the CUDA caching allocator is off",
        "unset PYTORCH_NO_CUDA_MEMORY_CACHING (it is for memory debuggers)",
        "every allocation is a cudaMalloc: very slow steps",
        _ONE,
    ),
    VariableRule(
        "TORCH_COMPILE_DISABLE",
        "torch.compile is disabled",
        "unset TORCH_COMPILE_DISABLE",
        "torch.compile silently runs eager: no speed-up",
        _ONE,
    ),
    VariableRule(
        "TORCHDYNAMO_DISABLE",
        "TorchDynamo (torch.compile's front end) is disabled",
        "unset TORCHDYNAMO_DISABLE",
        "torch.compile silently runs eager: no speed-up",
        _ONE,
    ),
    VariableRule(
        "TORCH_NCCL_BLOCKING_WAIT",
        "NCCL blocking wait is on",
        "unset TORCH_NCCL_BLOCKING_WAIT (TORCH_NCCL_ASYNC_ERROR_HANDLING detects hangs cheaper)",
        "host threads spin on every collective",
        _ONE,
    ),
    VariableRule(
        "TORCH_NCCL_ASYNC_ERROR_HANDLING",
        "NCCL asynchronous error handling is off",
        "unset TORCH_NCCL_ASYNC_ERROR_HANDLING (the default, 3, tears down hung jobs)",
        "a failed rank leaves the others hanging until the job's wall-clock limit",
        frozenset({"0"}),
    ),
    VariableRule(
        "TORCH_LOGS",
        "torch structured logging is on",
        "unset TORCH_LOGS",
        "log floods and slower compilation",
    ),
)
