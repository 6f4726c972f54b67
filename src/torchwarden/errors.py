"""Every error torchwarden raises derives from one root.

Catch :class:`TorchwardenError` to handle them all, or a subsystem's class to be
precise. Each message names the problem and how to fix it.

    TorchwardenError
    ├── ScopeError                  misuse of a scope (re-entering a closed one, ...)
    │   └── TensorLeakError         a strict scope found leaked tensors; carries the report
    ├── NNError                     governed building blocks (torchwarden.nn)
    │   ├── SequenceTooLongError    input longer than the positional table (also a ValueError)
    │   └── CheckpointBudgetError   no segmentation keeps activations within the memory budget
    ├── CommHookError               DDP communication hooks (torchwarden.distributed)
    │   └── CommHookStateError      a saved hook state does not fit the hook or model it is loaded into
    ├── RunError                    `torchwarden run`: the runner, steps, records
    │   ├── ScriptNotFoundError     the script or module to run does not exist
    │   └── LeaseError              a GPU lease could not be taken or is held by someone else
    ├── EnvError                    `torchwarden doctor` and `env ...`: fingerprints, rules, probes
    │   └── FingerprintError        a fingerprint file is unreadable or of another schema
    ├── DataError                   the host→device data path (torchwarden.data)
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
    "CheckpointBudgetError",
    "CommHookError",
    "CommHookStateError",
    "DataError",
    "DoesNotFitError",
    "EnvError",
    "FingerprintError",
    "LeaseError",
    "NNError",
    "ReportError",
    "RunError",
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


class TensorLeakError(ScopeError):
    """A ``strict=True`` scope ended with tensors still alive that it did not expect.

    ``report`` holds the full :class:`~torchwarden.ScopeReport`; the message is its table.
    """

    def __init__(self, report: ScopeReport) -> None:
        self.report = report
        super().__init__(str(report))


class NNError(TorchwardenError):
    """A governed building block got input it cannot serve."""


class SequenceTooLongError(NNError, ValueError):
    """A sequence is longer than the positional table was built for."""


class CheckpointBudgetError(NNError, ValueError):
    """Activation checkpointing cannot keep the measured activations within the budget."""


class CommHookError(TorchwardenError):
    """A DDP communication hook was asked for something it does not support."""


class CommHookStateError(CommHookError):
    """A saved hook state belongs to another hook, rank or model."""


class RunError(TorchwardenError):
    """``torchwarden run`` could not start or govern the workload."""


class ScriptNotFoundError(RunError, FileNotFoundError):
    """The script or module named on the command line does not exist."""


class LeaseError(RunError):
    """A GPU lease could not be taken: the message names who holds it and since when."""

    def __init__(self, message: str, *, holders: list[dict[str, Any]] | None = None) -> None:
        self.holders = holders or []
        super().__init__(message)


class EnvError(TorchwardenError):
    """The environment checks could not run or read their input."""


class FingerprintError(EnvError):
    """A fingerprint file is missing, unreadable, or of another schema."""


class DataError(TorchwardenError):
    """The data path could not move or share memory as asked."""


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
