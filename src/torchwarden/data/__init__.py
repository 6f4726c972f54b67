"""The host→device data path: interop, prefetching, resident data, transfer audit.

See README.md beside this file for the mental model.
"""

from torchwarden.data.events import StepCounts as StepCounts
from torchwarden.data.events import TransferEvent as TransferEvent
from torchwarden.data.events import classify_copy as classify_copy
from torchwarden.data.interop import to_numpy as to_numpy
from torchwarden.data.interop import to_torch as to_torch
from torchwarden.data.pinning import pin_in_place as pin_in_place
from torchwarden.data.pinning import unpin as unpin
from torchwarden.data.prefetch import DevicePrefetcher as DevicePrefetcher
from torchwarden.data.prefetch import tree_map as tree_map
from torchwarden.data.reasons import CopyReason as CopyReason
from torchwarden.data.reasons import explain_copy as explain_copy
from torchwarden.data.resident import GPUResidentLoader as GPUResidentLoader
from torchwarden.data.staging import pinned_empty as pinned_empty
from torchwarden.data.transfer_audit import Audit as Audit
from torchwarden.data.transfer_audit import AuditBudget as AuditBudget
from torchwarden.data.transfer_audit import active_audit as active_audit
from torchwarden.data.transfer_audit import audit as audit
from torchwarden.errors import DataArgumentError as DataArgumentError
from torchwarden.errors import DataError as DataError
from torchwarden.errors import DeviceUnavailableError as DeviceUnavailableError
from torchwarden.errors import DoesNotFitError as DoesNotFitError
from torchwarden.errors import TransferBudgetError as TransferBudgetError
from torchwarden.errors import ZeroCopyError as ZeroCopyError
from torchwarden.findings import TransferFinding as TransferFinding

__all__ = [
    "Audit",
    "AuditBudget",
    "CopyReason",
    "DataArgumentError",
    "DataError",
    "DevicePrefetcher",
    "DeviceUnavailableError",
    "DoesNotFitError",
    "GPUResidentLoader",
    "StepCounts",
    "TransferBudgetError",
    "TransferEvent",
    "TransferFinding",
    "ZeroCopyError",
    "active_audit",
    "audit",
    "classify_copy",
    "explain_copy",
    "pin_in_place",
    "pinned_empty",
    "to_numpy",
    "to_torch",
    "tree_map",
    "unpin",
]
