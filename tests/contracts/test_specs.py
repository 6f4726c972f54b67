"""The plain string syntax and jaxtyping's annotations say the same things."""

from __future__ import annotations

import pytest
import torch
from jaxtyping import Float, Int, Shaped
from torch import Tensor

from torchwarden.contracts import (
    ContractSpecError,
    DtypeContractError,
    ModelOutput,
    ShapeContractError,
    contract,
    parse_spec,
)
from torchwarden.contracts.annotations import node_of
from torchwarden.contracts.spec import Dim


@pytest.mark.parametrize(
    ("annotation", "text"),
    [
        (Float[Tensor, "batch seq dim"], "float[batch seq dim]"),
        (Int[Tensor, "*batch 3"], "int[*batch 3]"),
        (Shaped[Tensor, "... rgb=3"], "any[... rgb=3]"),
        (Float[Tensor, "#batch n-1"], "float[#batch n-1]"),
    ],
)
def test_jaxtyping_and_strings_read_into_the_same_dimensions(annotation: object, text: str) -> None:
    from_jaxtyping, from_string = node_of(annotation), parse_spec(text)
    assert from_jaxtyping.dims == from_string.dims  # type: ignore[union-attr]
    assert from_string.dtypes is None or from_jaxtyping.dtypes <= from_string.dtypes  # type: ignore[union-attr, operator]


def test_the_string_syntax_tokens() -> None:
    spec = parse_spec("float16|bfloat16[*lead _ #b n*2 dim=3]")
    assert spec.dtypes == frozenset({"float16", "bfloat16"})
    assert spec.dims == (
        Dim("variadic", "lead"),
        Dim("any", "_"),
        Dim("named", "b", None, True),
        Dim("expr", "n*2"),
        Dim("fixed", "dim", 3),
    )
    assert parse_spec("int64").dims is None and parse_spec("[a b]").dtypes is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("float[batch, seq]", r"separate them with spaces, not commas"),
        (
            "floaty[batch]",
            r"unknown dtype 'floaty': use a family \(bool, complex, .*\) or a torch dtype",
        ),
        ("float[*a ...]", r"use `\*name` or `...` at most once"),
        ("float[n**]", r"cannot read the dimension expression 'n\*\*'"),
        ("float[__import__('os')]", r"Call is not allowed|Attribute is not allowed|not allowed"),
        ("float[b", r"cannot read the contract 'float\[b': write `dtype\[dims\]`"),
    ],
)
def test_a_malformed_spec_fails_at_decoration_with_the_fix(text: str, message: str) -> None:
    with pytest.raises(ContractSpecError, match=message):

        @contract(x=text)
        def f(x: Tensor) -> Tensor:
            return x


def test_a_contract_for_a_parameter_that_does_not_exist_is_refused() -> None:
    with pytest.raises(
        ContractSpecError,
        match=r"f: the contract names \['y'\], which are not its parameters \(x\); use `returns=`",
    ):

        @contract(y="float[b]")
        def f(x: Tensor) -> Tensor:
            return x


def test_an_expression_over_unbound_names_says_which() -> None:
    @contract(returns="float[n*2]")
    def f(x: Tensor) -> Tensor:
        return x

    with pytest.raises(
        ContractSpecError,
        match=r"the dimension expression 'n\*2' uses n, which no earlier argument binds",
    ):
        f(torch.ones(3))


def test_variadic_fixed_broadcast_and_expression_dimensions() -> None:
    @contract(x="float[*batch n]", y="float[#n]", returns="float[*batch n+1]")
    def pad(x: Tensor, y: Tensor) -> Tensor:
        return torch.cat([x + y, x[..., :1]], -1)

    assert pad(torch.ones(2, 3, 4), torch.ones(1)).shape == (2, 3, 5)
    with pytest.raises(
        ShapeContractError, match=r"why:      dimension 0 \(n\) is 3, but n=4 \(from x\)"
    ):
        pad(torch.ones(2, 3, 4), torch.ones(3))

    @contract(x="float[*batch n]", y="float[*batch n]")
    def same(x: Tensor, y: Tensor) -> Tensor:
        return x

    with pytest.raises(
        ShapeContractError,
        match=r"dimensions \*batch are \(2, 4\), but \*batch=\(2, 3\) \(from x\)",
    ):
        same(torch.ones(2, 3, 4), torch.ones(2, 4, 4))


def test_string_specs_override_annotations() -> None:
    @contract(x="int[n]")
    def f(x: Float[Tensor, " n"]) -> Tensor:
        return x

    with pytest.raises(DtypeContractError, match=r"expected: int\[n\]"):
        f(torch.ones(2))


def test_unresolvable_annotations_say_how_to_fix_at_the_first_call() -> None:
    @contract
    def f(x: Missing) -> Tensor:  # type: ignore[name-defined]  # noqa: F821
        return x

    pattern = r"cannot read the annotations of .*name 'Missing' is not defined.*give the contract as strings"
    with pytest.raises(ContractSpecError, match=pattern):
        f(torch.ones(1))


class EarlyModel(torch.nn.Module):
    @contract
    def forward(self, x: Float[Tensor, "batch dim"]) -> LaterOutput:
        return LaterOutput(x[:, :1])


class LaterOutput(ModelOutput):
    head: Float[Tensor, "batch 2"]


def test_annotations_naming_a_later_class_are_read_at_the_first_call() -> None:
    with pytest.raises(ShapeContractError, match=r"output `output.head` has the wrong shape"):
        EarlyModel()(torch.ones(3, 4))


def test_keyword_only_and_defaulted_arguments() -> None:
    @contract(x="float[n]", weight="float[n]", bias="float[n]")
    def affine(x: Tensor, *, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        return x * weight + (0 if bias is None else bias)

    assert affine(torch.ones(3), weight=torch.ones(3)).shape == (3,)  # bias left out: not checked
    assert affine(torch.ones(3), weight=torch.ones(3), bias=None).shape == (3,)  # Optional kept
    with pytest.raises(ShapeContractError, match=r"argument `weight` has the wrong shape"):
        affine(torch.ones(3), weight=torch.ones(2))
    with pytest.raises(ShapeContractError, match=r"argument `bias` has the wrong shape"):
        affine(torch.ones(3), weight=torch.ones(3), bias=torch.ones(4))
