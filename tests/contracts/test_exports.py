"""The public surface of torchwarden.contracts, and jaxtyping staying optional."""

from __future__ import annotations

import subprocess
import sys
import types

import torchwarden
import torchwarden.contracts as contracts
from torchwarden import errors


def test_all_is_complete_and_resolves() -> None:
    public = {
        n
        for n, v in vars(contracts).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    assert public == set(contracts.__all__)
    for name in contracts.__all__:
        assert getattr(contracts, name) is not None


def test_errors_are_reexported_from_the_subpackage_and_the_root() -> None:
    names = [n for n in contracts.__all__ if n.endswith("Error")]
    assert len(names) == 6
    for name in names:
        assert getattr(contracts, name) is getattr(errors, name) is getattr(torchwarden, name)
    assert torchwarden.ContractError is errors.ContractError
    assert torchwarden.contracts is contracts


_WITHOUT_JAXTYPING = """
import sys
sys.modules["jaxtyping"] = None  # as if it were not installed
import torch
from torchwarden.contracts import contract, ShapeContractError

@contract(x="float[batch dim]", y="float[batch dim]", returns="float[batch dim]")
def add(x, y):
    return x + y

add(torch.ones(2, 3), torch.ones(2, 3))
try:
    add(torch.ones(2, 3), torch.ones(3, 3))
except ShapeContractError as e:
    print("caught", e.path)
print("jaxtyping" in sys.modules and sys.modules["jaxtyping"] is not None)
"""


def test_string_contracts_work_without_jaxtyping() -> None:
    out = subprocess.run([sys.executable, "-c", _WITHOUT_JAXTYPING], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["caught", "y", "False"]


def test_importing_contracts_does_not_import_jaxtyping() -> None:
    code = "import sys, torchwarden.contracts; print('jaxtyping' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
