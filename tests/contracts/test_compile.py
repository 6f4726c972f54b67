"""Under torch.compile, checks on or off add no graph break and no recompilation.

Each test compiles the same calls twice, with a contract and without, and compares
the counts: frames compiled (CompileCounter), graph breaks (dynamo's counters and
explain()). Shapes vary across calls so that dynamic-shape recompiles are counted too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
import torch._dynamo
from torch import nn
from torch._dynamo.testing import CompileCounter
from torch._dynamo.utils import counters

import torchwarden.contracts as contracts
from tests.contracts.models import Classifier, ClassifierOutput, Encoder
from torchwarden.contracts import ShapeContractError

BATCHES = (2, 3, 4, 5, 3)


class Unchecked(nn.Module):
    """Encoder's body without the contract: the baseline."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.proj(x) * mask[..., None]


@pytest.fixture(autouse=True)
def _fresh_dynamo() -> Iterator[None]:
    torch._dynamo.reset()
    counters.clear()
    yield
    contracts.enable(True)
    torch._dynamo.reset()


def _compiled_counts(model: nn.Module, dynamic: bool | None) -> tuple[int, int]:
    """(frames compiled, graph breaks) over calls with varying batch sizes."""
    torch._dynamo.reset()
    counters.clear()
    backend = CompileCounter()
    compiled = torch.compile(model, backend=backend, fullgraph=True, dynamic=dynamic)
    for batch in BATCHES:
        compiled(torch.randn(batch, 6, 8), torch.ones(batch, 6))
    return backend.frame_count, sum(counters["graph_break"].values())


@pytest.mark.parametrize("dynamic", [None, True, False])
@pytest.mark.parametrize("on", [True, False])
def test_no_graph_break_and_no_recompilation(on: bool, dynamic: bool | None) -> None:
    baseline = _compiled_counts(Unchecked(), dynamic)
    contracts.enable(on)
    assert _compiled_counts(Encoder(), dynamic) == baseline
    assert baseline[1] == 0 and baseline[0] == {None: 2, True: 1, False: 4}[dynamic]


def test_explain_sees_one_graph_and_no_break() -> None:
    model, x, mask = Classifier(), torch.randint(0, 11, (2, 5)), torch.ones(2, 5)
    for on in (True, False):
        contracts.enable(on)
        explanation = torch._dynamo.explain(model)(x, mask)
        assert (explanation.graph_count, explanation.graph_break_count) == (1, 0)


def test_structured_outputs_compile_in_one_graph() -> None:
    backend = CompileCounter()
    model = torch.compile(Classifier(), backend=backend, fullgraph=True)
    out = model(torch.randint(0, 11, (2, 5)), torch.ones(2, 5))
    assert isinstance(out, ClassifierOutput) and out.logits.shape == (2, 3)
    assert backend.frame_count == 1


def test_toggling_the_switch_costs_one_recompilation_not_one_per_call() -> None:
    backend = CompileCounter()
    compiled = torch.compile(Encoder(), backend=backend, fullgraph=True)
    x, mask = torch.randn(2, 6, 8), torch.ones(2, 6)
    for on in (True, False, True, False):
        contracts.enable(on)
        for _ in range(3):
            compiled(x, mask)
    assert backend.frame_count == 2  # one graph per switch position, then reused


def _broken(compile_: Callable[[nn.Module], nn.Module]) -> None:
    compile_(Encoder())(torch.randn(4, 6, 8), torch.ones(4, 5))


def test_a_broken_contract_still_raises_under_compile() -> None:
    with pytest.raises(ShapeContractError, match=r"argument `mask` has the wrong shape"):
        _broken(lambda m: torch.compile(m, backend="eager"))


def test_with_fullgraph_the_compile_error_carries_the_contract_message() -> None:
    with pytest.raises(
        Exception, match=r"(?s)Observed exception.*argument `mask` has the wrong shape"
    ):
        _broken(lambda m: torch.compile(m, backend="eager", fullgraph=True))


def test_finiteness_is_skipped_while_tracing_without_a_break() -> None:
    @contracts.contract(finite=True)
    def scale(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    backend = CompileCounter()
    compiled = torch.compile(scale, backend=backend, fullgraph=True)
    assert torch.isinf(compiled(torch.tensor([float("inf")]))).all()
    assert backend.frame_count == 1 and not counters["graph_break"]


def test_compiled_false_leaves_compiled_code_as_without_contracts() -> None:
    contracts.enable(True, compiled=False)
    try:
        assert _compiled_counts(Encoder(), None) == _compiled_counts(Unchecked(), None)
        # not traced: a broken call meets torch's own error, from inside the compiler
        with pytest.raises(RuntimeError, match=r"(?s)making fake tensor call.*broadcast"):
            _broken(lambda m: torch.compile(m, backend="eager"))
        with pytest.raises(ShapeContractError):
            Encoder()(torch.randn(4, 6, 8), torch.ones(4, 5))
    finally:
        contracts.enable(True, compiled=True)
