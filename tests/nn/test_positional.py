from __future__ import annotations

import io

import pytest
import torch

import torchwarden
from torchwarden.nn import PositionalEncoding


def test_adds_the_sinusoid_table() -> None:
    pe = PositionalEncoding(6, max_len=10)
    out = pe(torch.zeros(2, 4, 6))
    assert torch.allclose(out[0, 0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    assert torch.allclose(out[0, 1, 0], torch.sin(torch.tensor(1.0)))
    assert torch.equal(out[0], out[1])


def test_sequence_first_layout() -> None:
    pe_b = PositionalEncoding(8, max_len=16, batch_first=True)
    pe_s = PositionalEncoding(8, max_len=16, batch_first=False)
    x = torch.randn(3, 5, 8)
    assert torch.allclose(pe_b(x), pe_s(x.transpose(0, 1)).transpose(0, 1))


def test_odd_width() -> None:
    assert PositionalEncoding(5, max_len=4)(torch.zeros(1, 4, 5)).shape == (1, 4, 5)


def test_table_is_a_buffer_that_round_trips() -> None:
    pe = PositionalEncoding(16, max_len=32)
    assert "pe" in dict(pe.named_buffers())
    buf = io.BytesIO()
    torch.save(pe.state_dict(), buf)
    buf.seek(0)
    fresh = PositionalEncoding(16, max_len=32)
    fresh.pe.zero_()
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(fresh.pe, pe.pe)
    assert pe.to(torch.float64).pe.dtype == torch.float64


def test_too_long_names_both_numbers() -> None:
    pe = PositionalEncoding(8, max_len=16)
    with pytest.raises(torchwarden.SequenceTooLongError, match=r"length 20 .* max_len=16"):
        pe(torch.zeros(1, 20, 8))
    with pytest.raises(ValueError, match="width 7"):
        pe(torch.zeros(1, 4, 7))
    with pytest.raises(ValueError, match="d_model > 0"):
        PositionalEncoding(0)


def test_argument_errors_are_nn_errors_and_value_errors() -> None:
    from torchwarden.nn import NNArgumentError, NNError

    with pytest.raises(NNArgumentError, match="width 7") as caught:
        PositionalEncoding(8)(torch.zeros(1, 4, 7))
    assert all(
        isinstance(caught.value, c) for c in (NNError, ValueError, torchwarden.TorchwardenError)
    )
    with pytest.raises(NNArgumentError, match=r"dropout must be in \[0, 1\), got 1.5"):
        PositionalEncoding(8, dropout=1.5)


def test_dtype_follows_input() -> None:
    assert (
        PositionalEncoding(8, max_len=4)(torch.zeros(1, 4, 8, dtype=torch.bfloat16)).dtype
        == torch.bfloat16
    )


def test_compiled_serves_many_lengths_without_a_graph_per_length() -> None:
    compiles = 0

    def counting_backend(gm: torch.fx.GraphModule, example_inputs: list[torch.Tensor]):  # type: ignore[no-untyped-def]
        nonlocal compiles
        compiles += 1
        return gm.forward

    torch._dynamo.reset()
    pe = PositionalEncoding(32, max_len=512)
    compiled = torch.compile(pe, backend=counting_backend, fullgraph=True)
    lengths = [7, 13, 64, 100, 257, 511]
    for n in lengths:
        x = torch.randn(2, n, 32)
        assert torch.allclose(compiled(x), pe(x))
    assert compiles <= 2, f"{compiles} compilations for {len(lengths)} lengths"
    torch._dynamo.reset()
