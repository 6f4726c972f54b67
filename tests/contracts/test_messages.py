"""Every broken contract names the function, the argument, expected vs got, the
bindings and the user's line; each message is checked here."""

from __future__ import annotations

import re

import pytest
import torch
from torch import Tensor

from tests.contracts.models import Classifier, ClassifierOutput, Encoder, inputs
from torchwarden import TorchwardenError
from torchwarden.contracts import (
    ContractError,
    DeviceContractError,
    DtypeContractError,
    NonFiniteError,
    ShapeContractError,
    contract,
)

HERE = re.escape(__file__.rsplit("/", 1)[-1])


def test_a_mismatched_named_dimension_names_both_arguments_and_the_bindings() -> None:
    model = Encoder()
    with pytest.raises(ShapeContractError) as info:
        model(torch.randn(4, 128, 8), torch.ones(4, 100))
    message = str(info.value)
    assert message.startswith("Encoder.forward: argument `mask` has the wrong shape")
    assert "expected: Float[batch seq]" in message
    assert "got:      float32 (4, 100)" in message
    assert "why:      dimension 1 (seq) is 100, but seq=128 (from x)" in message
    assert "bindings: batch=4 (from x), seq=128 (from x), dim=8 (from x)" in message
    assert re.search(rf"passed at: .*{HERE}:\d+", message)
    assert info.value.bindings["seq"] == (128, "x")
    assert info.value.path == "mask"


def test_the_contract_errors_are_value_and_type_errors_under_one_root() -> None:
    assert issubclass(ShapeContractError, ValueError)
    assert issubclass(DtypeContractError, TypeError)
    assert issubclass(ContractError, TorchwardenError)
    with pytest.raises(ValueError, match=r"wrong shape"):
        Encoder()(torch.randn(2, 3, 8), torch.ones(3, 3))


def test_a_wrong_rank_says_how_many_dimensions() -> None:
    with pytest.raises(ShapeContractError, match=r"why:      2 dimensions where 3 were expected"):
        Encoder()(torch.randn(2, 8), torch.ones(2, 1))


def test_a_wrong_dtype_names_the_family_and_the_cast() -> None:
    ids, mask = inputs()
    pattern = (
        r"Classifier.forward: argument `ids` has dtype float32\n"
        r"  expected: Int\[batch seq\]\n"
        r"  got:      float32 \(2, 5\)\n"
        r"  why:      float32 is not one of Int: int2, int4, int8, int16, \.\.\.\n"
        r"  bindings: \(none yet\)\n"
        rf"  passed at: .*{HERE}:\d+\n"
        r"  fix:      cast it \(`\.to\(torch\.int64\)`\)"
    )
    with pytest.raises(DtypeContractError, match=pattern):
        Classifier()(ids.float(), mask)


def test_a_tensor_on_another_device_than_the_model_is_named_before_any_kernel() -> None:
    model = Encoder()  # on the CPU; the input on `meta` plays the CPU-into-CUDA case
    pattern = (
        r"Encoder.forward: argument `x` is on meta, not on cpu\n"
        r"  expected: device cpu \(from Encoder's parameters\)\n"
        r"  got:      device meta, shape \(2, 3, 8\)\n"
        r"(?s:.*)"
        r"  fix:      move it before the call: `x.to\('cpu'\)`"
    )
    with pytest.raises(DeviceContractError, match=pattern):
        model(torch.randn(2, 3, 8, device="meta"), torch.ones(2, 3))


def test_a_plain_function_keeps_its_tensors_on_the_first_ones_device() -> None:
    @contract
    def add(a: Tensor, b: Tensor) -> Tensor:
        return a + b.to(a.device)

    with pytest.raises(DeviceContractError, match=r"expected: device cpu \(from `a`\)"):
        add(torch.ones(2), torch.ones(2, device="meta"))
    assert add(torch.ones(2), torch.tensor(1.0)).tolist() == [2.0, 2.0]  # a CPU scalar is fine


def test_a_broken_output_field_is_named_by_its_path() -> None:
    @contract(returns="float[batch 3]")
    def head(x: Tensor) -> Tensor:
        return x[:, :2]

    with pytest.raises(ShapeContractError, match=r"head: the output has the wrong shape") as info:
        head(torch.randn(4, 3))
    assert "dimension 1 (3) is 2, not 3" in str(info.value)
    assert re.search(rf"returned to: .*{HERE}:\d+", str(info.value))


def test_a_structured_output_is_checked_field_by_field() -> None:
    class Broken(Classifier):
        def forward(self, ids: Tensor, mask: Tensor) -> ClassifierOutput:  # type: ignore[override]
            out = Classifier.forward.__wrapped__(self, ids, mask)  # type: ignore[attr-defined]
            return ClassifierOutput(out.logits[:1], out.hidden)

    checked_forward = contract(ids="int[batch seq]")(Broken.forward)
    pattern = (
        r"Broken.forward: output `output.logits` has the wrong shape\n(?s:.*)"
        r"why:      dimension 0 \(batch\) is 1, but batch=2 \(from ids\)"
    )
    with pytest.raises(ShapeContractError, match=pattern):
        checked_forward(Broken(), *inputs())


def test_non_finite_values_are_counted_when_asked_for() -> None:
    @contract(finite=True)
    def normalise(x: Tensor) -> Tensor:
        return x / x.sum()

    pattern = (
        r"normalise: the output holds values that are not finite\n"
        r"  expected: finite values \(finite=True\)\n"
        r"  got:      2 NaN and 0 inf among 2 values"
    )
    with pytest.raises(NonFiniteError, match=pattern):
        normalise(torch.zeros(2))
    with pytest.raises(NonFiniteError, match=r"argument `x` holds values that are not finite"):
        normalise(torch.tensor([1.0, float("inf")]))


def test_a_value_that_is_not_a_tensor_is_a_type_error() -> None:
    with pytest.raises(
        TypeError,
        match=r"argument `mask` is not what the contract describes\n"
        r"  expected: Float\[batch seq\]\n  got:      list of 2",
    ):
        Encoder()(torch.randn(2, 3, 8), [1, 2])


def test_a_creation_lookup_names_where_the_tensor_was_made() -> None:
    from torchwarden.contracts import set_creation_lookup

    set_creation_lookup(lambda t: "prep.py:12")
    try:
        with pytest.raises(ShapeContractError, match=r"created at: prep.py:12"):
            Encoder()(torch.randn(2, 3, 8), torch.ones(2, 4))
    finally:
        set_creation_lookup(None)
