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
    │   ├── SequenceTooLongError    input longer than the positional table (also a ValueError)
    │   └── CheckpointBudgetError   no segmentation keeps activations within the memory budget
    ├── CommHookError               DDP communication hooks (torchwarden.distributed)
    │   └── CommHookStateError      a saved hook state does not fit the hook or model it is loaded into
    ├── RunError                    `torchwarden run`: the runner, steps, records
    │   ├── ScriptNotFoundError     the script or module to run does not exist
    │   ├── RecordWriteError        the run's record could not be written (disk full, no permission)
    │   ├── LeaseError              a GPU lease could not be taken or is held by someone else
    │   └── RunIndexError           the machine-wide run index could not be written or read
    ├── EnvError                    `torchwarden doctor` and `env ...`: fingerprints, rules, probes
    │   ├── EnvArgumentError        a wrong probe, probe name or Dockerfile option (also ValueError)
    │   ├── FingerprintError        a fingerprint file is unreadable or of another schema
    │   └── ProbeError              a probe's workload misbehaved (reported as that probe's failure)
    ├── DataError                   the host→device data path (torchwarden.data)
    │   ├── DataArgumentError       a wrong argument to torchwarden.data (also ValueError, TypeError)
    │   ├── DeviceUnavailableError  a device was asked for that this machine does not have
    │   ├── ZeroCopyError           `copy=False` was asked but memory cannot be shared
    │   ├── DoesNotFitError         a dataset does not fit on the device with headroom
    │   └── TransferBudgetError     an audit budget (syncs, bytes per step) was exceeded
    ├── NotebookError               the IPython/Jupyter extension (%load_ext torchwarden, %tw)
    │   └── NotebookArgumentError   a wrong %tw command, size or name to release (also ValueError)
    ├── ReportError                 run records and HTML reports
    ├── TrainError                  training state that survives failure (torchwarden.train)
    │   ├── TrainArgumentError      a wrong argument to torchwarden.train (also ValueError, TypeError)
    │   └── CheckpointError         a checkpoint could not be written, verified or loaded
    │       ├── ManifestError       a manifest is unreadable, of another schema, or out of bounds
    │       └── NoCheckpointError   resume found no checkpoint that verifies (also FileNotFoundError)
    └── ContractError               a model boundary's contract (torchwarden.contracts)
        ├── ContractSpecError       the contract itself cannot be read (also a ValueError)
        ├── ShapeContractError      a shape or a named dimension disagrees (also a ValueError)
        ├── DtypeContractError      a dtype, or a value that is not a tensor (also a TypeError)
        ├── DeviceContractError     a tensor on another device than the model (also a ValueError)
        └── NonFiniteError          NaN or inf where finite values were asked (also a ValueError)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torchwarden.lifecycle.report import ScopeReport

__all__ = [
    "CheckpointBudgetError",
    "CheckpointError",
    "CommHookError",
    "CommHookStateError",
    "ContractError",
    "ContractSpecError",
    "DataArgumentError",
    "DataError",
    "DeviceContractError",
    "DeviceUnavailableError",
    "DoesNotFitError",
    "DtypeContractError",
    "EnvArgumentError",
    "EnvError",
    "FingerprintError",
    "LeaseError",
    "ManifestError",
    "MemoryStatsError",
    "NNArgumentError",
    "NNError",
    "NoCheckpointError",
    "NonFiniteError",
    "NotebookArgumentError",
    "NotebookError",
    "ProbeError",
    "RecordWriteError",
    "ReportError",
    "RunError",
    "RunIndexError",
    "ScopeArgumentError",
    "ScopeError",
    "ScriptNotFoundError",
    "SequenceTooLongError",
    "ShapeContractError",
    "TensorLeakError",
    "TorchwardenError",
    "TrainArgumentError",
    "TrainError",
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


class RecordWriteError(RunError):
    """The run's record could not be written: the disk is full or the directory is not writable.

    The script's exit code is kept; the message says which file and what to free or change.
    """


class LeaseError(RunError):
    """A GPU lease could not be taken: the message names who holds it and since when."""

    def __init__(self, message: str, *, holders: list[dict[str, Any]] | None = None) -> None:
        self.holders = holders or []
        super().__init__(message)


class RunIndexError(RunError):
    """The run index (who runs what on this machine) could not be written or read."""


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


class DeviceUnavailableError(DataError):
    """A device was asked for (``"cuda"``, ``"cuda:3"``) that this machine does not have."""


class ZeroCopyError(DataError):
    """Zero-copy was required (``copy=False``) but the memory cannot be shared."""

    def __init__(self, message: str, *, reasons: list[str] | None = None) -> None:
        self.reasons = reasons or []
        super().__init__(message)


class DoesNotFitError(DataError):
    """A dataset does not fit in device memory with the requested headroom."""


class TransferBudgetError(DataError):
    """An audited step exceeded a transfer or synchronisation budget."""


class NotebookError(TorchwardenError):
    """The IPython/Jupyter extension could not do what a ``%tw`` command asked."""


class NotebookArgumentError(NotebookError, ValueError):
    """A ``%tw`` command, a size or a name to release was not understood."""


class ReportError(TorchwardenError):
    """A run record or report could not be read or written."""


class TrainError(TorchwardenError):
    """Training state could not be saved, restored or governed (torchwarden.train)."""


class TrainArgumentError(TrainError, ValueError, TypeError):
    """A wrong argument to torchwarden.train; also the builtin callers catch."""


class CheckpointError(TrainError):
    """A checkpoint could not be written, verified or loaded."""


class ManifestError(CheckpointError):
    """A checkpoint manifest is unreadable, of another schema, or holds out-of-bounds values."""


class NoCheckpointError(CheckpointError, FileNotFoundError):
    """A checkpoint was required but none in the directory verifies."""


class ContractError(TorchwardenError):
    """A value crossing a model boundary broke its contract.
    The message names the function or module, the argument or output field, what was
    expected and what came, the named dimensions bound so far, and the user's line.
    The same facts are attributes: ``where``, ``path``, ``expected``, ``got``,
    ``bindings`` (name -> (size, path it came from)) and ``site``.
    """

    # Class-level defaults, set per error by the checker: no __init__ of its own, so
    # that torch.compile can trace the raise and show this message even in fullgraph.
    where: str = ""
    path: str = ""
    expected: str = ""
    got: str = ""
    bindings: dict[str, tuple[Any, str]] = {}  # noqa: RUF012 (replaced, never mutated)
    site: str | None = None


class ContractSpecError(ContractError, ValueError):
    """A contract (string spec, annotation, option) cannot be read."""


class ShapeContractError(ContractError, ValueError):
    """A tensor's shape disagrees with its contract or with a dimension bound earlier."""


class DtypeContractError(ContractError, TypeError):
    """A tensor has another dtype than its contract allows, or a value is not a tensor."""


class DeviceContractError(ContractError, ValueError):
    """A tensor is on another device than the model (or the call's first tensor)."""


class NonFiniteError(ContractError, ValueError):
    """A tensor holds NaN or infinity where the contract asked for finite values."""
