"""The case contracts exist for: a CPU tensor into a CUDA model, named before any kernel."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
from torch._dynamo.testing import CompileCounter
from torch._dynamo.utils import counters

import torchwarden.contracts as contracts
from tests.contracts.models import Classifier, ClassifierOutput, Encoder
from torchwarden.contracts import DeviceContractError

pytestmark = pytest.mark.gpu


def test_a_cpu_batch_into_a_cuda_model() -> None:
    model = Encoder().cuda()
    pattern = (
        r"Encoder.forward: argument `x` is on cpu, not on cuda:0\n"
        r"  expected: device cuda:0 \(from Encoder's parameters\)\n"
        r"(?s:.*)fix:      move it before the call: `x.to\('cuda:0'\)`"
    )
    with pytest.raises(DeviceContractError, match=pattern):
        model(torch.randn(2, 3, 8), torch.ones(2, 3, device="cuda"))
    with pytest.raises(DeviceContractError, match=r"argument `mask` is on cpu, not on cuda:0"):
        model(torch.randn(2, 3, 8, device="cuda"), torch.ones(2, 3))


def test_a_cpu_scalar_beside_cuda_tensors_is_accepted() -> None:
    @contracts.contract
    def scale(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
        return x * factor

    assert scale(torch.ones(2, device="cuda"), torch.tensor(2.0)).device.type == "cuda"


def test_inductor_adds_no_graph_break_or_recompile_with_checks_on_or_off() -> None:
    frames = []
    for on in (True, False):
        torch._dynamo.reset()
        counters.clear()
        contracts.enable(on)
        backend = CompileCounter()
        model = torch.compile(Classifier().cuda(), backend=backend, fullgraph=True)
        for batch in (2, 3, 4):
            out = model(
                torch.randint(0, 11, (batch, 5), device="cuda"), torch.ones(batch, 5, device="cuda")
            )
            assert isinstance(out, ClassifierOutput)
        frames.append(backend.frame_count)
        assert not counters["graph_break"]
    contracts.enable(True)
    assert frames == [2, 2]
    compiled = torch.compile(Classifier().cuda(), fullgraph=True)  # the real backend, once
    assert compiled(
        torch.randint(0, 11, (2, 5), device="cuda"), torch.ones(2, 5, device="cuda")
    ).logits.is_cuda
