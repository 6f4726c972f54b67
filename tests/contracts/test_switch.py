"""One switch turns every check off: enable(False), disabled(), TORCHWARDEN_CONTRACTS=0."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Iterator

import pytest
import torch
from torch import Tensor, nn

import torchwarden.contracts as contracts
from tests.contracts.models import Encoder
from torchwarden.contracts import DeviceContractError, ShapeContractError, checked

BAD = (torch.randn(2, 3, 8), torch.ones(2, 4))


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield
    contracts.enable(True)


def test_enable_false_skips_every_check() -> None:
    model = Encoder()
    contracts.enable(False)
    assert not contracts.is_enabled()
    with pytest.raises(
        RuntimeError, match=r"size of tensor a \(3\) must match"
    ):  # torch's own, later
        model(*BAD)
    contracts.enable(True)
    with pytest.raises(ShapeContractError):
        model(*BAD)


def test_disabled_is_a_block_that_restores_the_switch() -> None:
    with contracts.disabled(), pytest.raises(RuntimeError, match=r"must match"):
        Encoder()(*BAD)
    assert contracts.is_enabled()


@pytest.mark.parametrize(
    ("value", "on"), [("0", False), ("off", False), ("1", True), ("", True), ("eager", True)]
)
def test_the_environment_variable_sets_the_starting_state(value: str, on: bool) -> None:
    code = (
        "import torchwarden.contracts as c; from torchwarden.contracts.switch import state; "
        "print(c.is_enabled(), state.skip_compiled)"
    )
    env = {"TORCHWARDEN_CONTRACTS": value, "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == [str(on), str(value == "eager")], out.stderr


class Plain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.lin(x)


def test_checked_wraps_one_instance_and_keeps_its_state_dict() -> None:
    model = checked(Plain(), x="float[batch 4]", returns="float[batch 2]")
    assert set(model.state_dict()) == {"lin.weight", "lin.bias"}
    assert model(torch.ones(3, 4)).shape == (3, 2)
    with pytest.raises(
        ShapeContractError, match=r"Plain.forward: argument `x` has the wrong shape"
    ):
        model(torch.ones(3, 5))
    with pytest.raises(DeviceContractError, match=r"argument `x` is on meta, not on cpu"):
        model(torch.ones(3, 4, device="meta"))
    with pytest.raises(RuntimeError, match=r"cannot be multiplied"):  # other instances: unchecked
        Plain()(torch.ones(3, 5))


def test_a_deep_copy_checks_against_its_own_parameters() -> None:
    twin = copy.deepcopy(checked(Plain(), x="float[batch 4]"))
    twin.to("meta")
    assert twin(torch.ones(3, 4, device="meta")).device.type == "meta"
    with pytest.raises(DeviceContractError, match=r"not on meta"):
        twin(torch.ones(3, 4))


def test_device_false_and_a_fixed_device() -> None:
    @contracts.contract(device=False)
    def loose(a: Tensor, b: Tensor) -> Tensor:
        return a

    assert loose(torch.ones(1), torch.ones(1, device="meta")).shape == (1,)

    @contracts.contract(device="meta")
    def on_meta(a: Tensor) -> Tensor:
        return a

    with pytest.raises(DeviceContractError, match=r"expected: device meta \(from the contract\)"):
        on_meta(torch.ones(1))
