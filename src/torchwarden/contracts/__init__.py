"""Contracts at model boundaries: shapes, dtypes, devices and finiteness, checked per call.

See README.md beside this file for the mental model, and docs/contracts.md for use.
"""

from torchwarden.contracts.boundary import Contract as Contract
from torchwarden.contracts.boundary import checked as checked
from torchwarden.contracts.boundary import contract as contract
from torchwarden.contracts.messages import set_creation_lookup as set_creation_lookup
from torchwarden.contracts.outputs import ModelOutput as ModelOutput
from torchwarden.contracts.spec import TensorSpec as TensorSpec
from torchwarden.contracts.spec import parse_spec as parse_spec
from torchwarden.contracts.structure import tensors_of as tensors_of
from torchwarden.contracts.switch import disabled as disabled
from torchwarden.contracts.switch import enable as enable
from torchwarden.contracts.switch import is_enabled as is_enabled
from torchwarden.errors import ContractError as ContractError
from torchwarden.errors import ContractSpecError as ContractSpecError
from torchwarden.errors import DeviceContractError as DeviceContractError
from torchwarden.errors import DtypeContractError as DtypeContractError
from torchwarden.errors import NonFiniteError as NonFiniteError
from torchwarden.errors import ShapeContractError as ShapeContractError

__all__ = [
    "Contract",
    "ContractError",
    "ContractSpecError",
    "DeviceContractError",
    "DtypeContractError",
    "ModelOutput",
    "NonFiniteError",
    "ShapeContractError",
    "TensorSpec",
    "checked",
    "contract",
    "disabled",
    "enable",
    "is_enabled",
    "parse_spec",
    "set_creation_lookup",
    "tensors_of",
]
