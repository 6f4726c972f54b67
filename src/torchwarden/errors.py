"""Every error torchwarden raises derives from one root.

Catch :class:`TorchwardenError` to handle them all, or a subsystem's class to be
precise. Each message names the problem and how to fix it. A wrong public argument
raises the subsystem's ``...ArgumentError``, which is also the builtin that Python code
expects there (``ValueError``, ``TypeError``), so ``except ValueError`` keeps working.
Each class is importable from the root package and from the subpackage that raises it.

    TorchwardenError
    ├── ScopeError                  misuse of a scope (re-entering a closed one, ...)
    │   ├── ScopeArgumentError      a wrong argument to torchwarden.lifecycle (also ValueError, TypeError)
    │   └── TensorLeakError         a strict scope found leaked tensors; carries the report
    ├── MemoryStatsError            torchwarden.memory cannot read the device asked (also ValueError)
    ├── NNError                     governed building blocks (torchwarden.nn)
    │   ├── NNArgumentError         a block built or called with a wrong argument (also ValueError)
    │   └── SequenceTooLongError    input longer than the positional table (also a ValueError)
    ├── RunError                    `torchwarden run`: the runner, steps, records
    │   ├── ScriptNotFoundError     the script or module to run does not exist
    │   ├── RecordWriteError        the run's record could not be written (disk full, no permission)
    │   └── LeaseError              a GPU lease could not be taken or is held by someone else
    ├── EnvError                    `torchwarden doctor` and `env ...`: fingerprints, rules, probes
    │   ├── EnvArgumentError        a wrong probe, probe name or Dockerfile option (also ValueError)
    │   ├── FingerprintError        a fingerprint file is unreadable or of another schema
    │   └── ProbeError              a probe's workload misbehaved (reported as that probe's failure)
    ├── DataError                   the host→device data path (torchwarden.data)
    │   ├── DataArgumentError       a wrong argument to torchwarden.data (also ValueError, TypeError)
    │   ├── ZeroCopyError           `copy=False` was asked but memory cannot be shared
    │   ├── DoesNotFitError         a dataset does not fit on the device with headroom
    │   └── TransferBudgetError     an audit budget (syncs, bytes per step) was exceeded
    └── ReportError                 run records and HTML reports
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torchwarden.lifecycle.report import ScopeReport

__all__ = [
    "DataArgumentError",
    "DataError",
    "DoesNotFitError",
    "EnvArgumentError",
    "EnvError",
    "FingerprintError",
    "LeaseError",
    "MemoryStatsError",
    "NNArgumentError",
    "NNError",
    "ProbeError",
    "RecordWriteError",
    "ReportError",
    "RunError",
    "ScopeArgumentError",
    "ScopeError",
    "ScriptNotFoundError",
    "SequenceTooLongError",
    "TensorLeakError",
    "TorchwardenError",
    "TransferBudgetError",
    "ZeroCopyError",
]


class TorchwardenError(Exception):
    """Root of every error raised by torchwarden."""


class ScopeError(TorchwardenError):
    """A scope was used in a way it does not support."""


class ScopeArgumentError(ScopeError, ValueError, TypeError):
    """A lifecycle function got an argument of the wrong value or type (a mode, a non-tensor)."""


class TensorLeakError(ScopeError):
    """A ``strict=True`` scope ended with tensors still alive that it did not expect.

    ``report`` holds the full :class:`~torchwarden.ScopeReport`; the message is its table.
    """

    def __init__(self, report: ScopeReport) -> None:
        self.report = report
        super().__init__(str(report))


class MemoryStatsError(TorchwardenError, ValueError):
    """``torchwarden.memory`` was asked about a device it cannot read (no CUDA, another type)."""


class NNError(TorchwardenError):
    """A governed building block got input it cannot serve."""


class NNArgumentError(NNError, ValueError):
    """A building block was built or called with a wrong argument (a size, a rate, a width)."""


class SequenceTooLongError(NNError, ValueError):
    """A sequence is longer than the positional table was built for."""


class RunError(TorchwardenError):
    """``torchwarden run`` could not start or govern the workload."""


class ScriptNotFoundError(RunError, FileNotFoundError):
    """The script or module named on the command line does not exist."""


class RecordWriteError(RunError):
    """The run's record could not be written: the disk is full or the directory is not writable.

    The script's exit code is kept; the message says which file and what to free or change.
    """


class LeaseError(RunError):
    """A GPU lease could not be taken: the message names who holds it and since when."""

    def __init__(self, message: str, *, holders: list[dict[str, Any]] | None = None) -> None:
        self.holders = holders or []
        super().__init__(message)


class EnvError(TorchwardenError):
    """The environment checks could not run or read their input."""


class EnvArgumentError(EnvError, ValueError):
    """A probe definition, a probe name or a Dockerfile option is not one the doctor accepts."""


class FingerprintError(EnvError):
    """A fingerprint file is missing, unreadable, or of another schema."""


class ProbeError(EnvError):
    """A probe's workload gave a wrong result or could not load.

    Raised inside the probe's own process; the doctor reports it as that probe's ``fail``.
    """


class DataError(TorchwardenError):
    """The data path could not move or share memory as asked."""


class DataArgumentError(DataError, ValueError, TypeError):
    """A ``torchwarden.data`` function got an argument of the wrong value or type."""


class ZeroCopyError(DataError):
    """Zero-copy was required (``copy=False``) but the memory cannot be shared."""

    def __init__(self, message: str, *, reasons: list[str] | None = None) -> None:
        self.reasons = reasons or []
        super().__init__(message)


class DoesNotFitError(DataError):
    """A dataset does not fit in device memory with the requested headroom."""


class TransferBudgetError(DataError):
    """An audited step exceeded a transfer or synchronisation budget."""


class ReportError(TorchwardenError):
    """A run record or report could not be read or written."""
