"""torchwarden: governance for PyTorch work on GPU machines.

The public surface is re-exported here. Everything that needs torch is imported on
first use, so ``import torchwarden`` is quick and never initialises CUDA.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from torchwarden._version import __version__ as __version__
from torchwarden.errors import CheckpointBudgetError as CheckpointBudgetError
from torchwarden.errors import CheckpointError as CheckpointError
from torchwarden.errors import CommHookError as CommHookError
from torchwarden.errors import CommHookStateError as CommHookStateError
from torchwarden.errors import ContractError as ContractError
from torchwarden.errors import ContractSpecError as ContractSpecError
from torchwarden.errors import DataArgumentError as DataArgumentError
from torchwarden.errors import DataError as DataError
from torchwarden.errors import DeviceContractError as DeviceContractError
from torchwarden.errors import DeviceUnavailableError as DeviceUnavailableError
from torchwarden.errors import DoesNotFitError as DoesNotFitError
from torchwarden.errors import DtypeContractError as DtypeContractError
from torchwarden.errors import EnvArgumentError as EnvArgumentError
from torchwarden.errors import EnvError as EnvError
from torchwarden.errors import FingerprintError as FingerprintError
from torchwarden.errors import LeaseError as LeaseError
from torchwarden.errors import ManifestError as ManifestError
from torchwarden.errors import MemoryStatsError as MemoryStatsError
from torchwarden.errors import NNArgumentError as NNArgumentError
from torchwarden.errors import NNError as NNError
from torchwarden.errors import NoCheckpointError as NoCheckpointError
from torchwarden.errors import NonFiniteError as NonFiniteError
from torchwarden.errors import NotebookArgumentError as NotebookArgumentError
from torchwarden.errors import NotebookError as NotebookError
from torchwarden.errors import ProbeError as ProbeError
from torchwarden.errors import RecordWriteError as RecordWriteError
from torchwarden.errors import ReportError as ReportError
from torchwarden.errors import RunError as RunError
from torchwarden.errors import RunIndexError as RunIndexError
from torchwarden.errors import ScopeArgumentError as ScopeArgumentError
from torchwarden.errors import ScopeError as ScopeError
from torchwarden.errors import ScriptNotFoundError as ScriptNotFoundError
from torchwarden.errors import SequenceTooLongError as SequenceTooLongError
from torchwarden.errors import ShapeContractError as ShapeContractError
from torchwarden.errors import TensorLeakError as TensorLeakError
from torchwarden.errors import TorchwardenError as TorchwardenError
from torchwarden.errors import TrainArgumentError as TrainArgumentError
from torchwarden.errors import TrainError as TrainError
from torchwarden.errors import TransferBudgetError as TransferBudgetError
from torchwarden.errors import ZeroCopyError as ZeroCopyError

if TYPE_CHECKING:
    from torchwarden import contracts as contracts
    from torchwarden import data as data
    from torchwarden import memory as memory
    from torchwarden import nn as nn
    from torchwarden import train as train
    from torchwarden.lifecycle.graph import GraphRetention as GraphRetention
    from torchwarden.lifecycle.graph import graph_retention as graph_retention
    from torchwarden.lifecycle.report import Leak as Leak
    from torchwarden.lifecycle.report import ScopeReport as ScopeReport
    from torchwarden.lifecycle.scope import TensorScope as TensorScope
    from torchwarden.lifecycle.scope import scope as scope
    from torchwarden.lifecycle.scope import scoped as scoped
    from torchwarden.runtime.steps import step as step

# public name -> module that defines it (imported on first attribute access)
_LAZY: dict[str, str] = {
    "contracts": "torchwarden.contracts",
    "data": "torchwarden.data",
    "memory": "torchwarden.memory",
    "nn": "torchwarden.nn",
    "train": "torchwarden.train",
    "step": "torchwarden.runtime.steps",
    "GraphRetention": "torchwarden.lifecycle.graph",
    "graph_retention": "torchwarden.lifecycle.graph",
    "Leak": "torchwarden.lifecycle.report",
    "ScopeReport": "torchwarden.lifecycle.report",
    "TensorScope": "torchwarden.lifecycle.scope",
    "scope": "torchwarden.lifecycle.scope",
    "scoped": "torchwarden.lifecycle.scope",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'torchwarden' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name == f"torchwarden.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext torchwarden``: report after each cell what the kernel newly holds."""
    from torchwarden.notebook import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext torchwarden``: stop reporting and forget what was recorded."""
    from torchwarden.notebook import unload_ipython_extension as unload

    unload(ipython)


def __dir__() -> list[str]:
    return sorted(__all__)


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
    "GraphRetention",
    "Leak",
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
    "ScopeReport",
    "ScriptNotFoundError",
    "SequenceTooLongError",
    "ShapeContractError",
    "TensorLeakError",
    "TensorScope",
    "TorchwardenError",
    "TrainArgumentError",
    "TrainError",
    "TransferBudgetError",
    "ZeroCopyError",
    "__version__",
    "contracts",
    "data",
    "graph_retention",
    "load_ipython_extension",
    "memory",
    "nn",
    "scope",
    "scoped",
    "step",
    "train",
    "unload_ipython_extension",
]
