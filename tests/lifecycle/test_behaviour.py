"""Scope semantics: nesting, threads, exceptions, strict mode, decorators, lifecycle."""

from __future__ import annotations

import threading

import pytest
import torch

import torchwarden
from tests.lifecycle.helpers import site

SINK: list[torch.Tensor] = []


@pytest.fixture(autouse=True)
def _empty_sink() -> None:
    SINK.clear()


def test_nested_scopes_each_report_their_own() -> None:
    with torchwarden.scope("outer", mode="exact") as outer:
        SINK.append(torch.ones(2))
        with torchwarden.scope("inner", mode="exact") as inner:
            SINK.append(torch.ones(3))
    assert [leak.shape for leak in inner.report.leaks] == [(3,)]
    assert sorted(leak.shape for leak in outer.report.leaks) == [(2,), (3,)]


def test_tensor_made_by_a_thread_started_in_the_block() -> None:
    def work() -> None:
        SINK.append(torch.zeros(9))  # SITE:thread

    with torchwarden.scope(mode="exact") as s:
        t = threading.Thread(target=work)
        t.start()
        t.join()
    leak = s.report.leaks[0]
    assert leak.holder.endswith("SINK[0]")
    assert leak.site == site(__file__, "SITE:thread")


def test_exception_propagates_unchanged_and_report_exists() -> None:
    s = torchwarden.scope(mode="exact", strict=True)
    with pytest.raises(KeyError, match="original"), s:
        SINK.append(torch.ones(4))
        raise KeyError("original")
    assert s.report.exception == "KeyError"
    assert len(s.report.leaks) == 1


def test_strict_raises_with_report() -> None:
    with (
        pytest.raises(torchwarden.TensorLeakError, match=r"SINK\[0\]") as info,
        torchwarden.scope(mode="exact", strict=True),
    ):
        SINK.append(torch.ones(4))
    assert info.value.report.leaks[0].nbytes == 16
    assert isinstance(info.value, torchwarden.TorchwardenError)


def test_scoped_decorator_reports_each_call() -> None:
    @torchwarden.scoped(mode="exact")
    def step(n: int) -> torch.Tensor:
        SINK.append(torch.ones(n))
        return torch.zeros(n)

    step(2)
    first = step.last_report  # type: ignore[attr-defined]
    step(3)
    assert [leak.shape for leak in first.leaks] == [(2,)]
    assert [leak.shape for leak in step.last_report.leaks] == [(3,)]  # type: ignore[attr-defined]


def test_scope_instance_as_decorator() -> None:
    @torchwarden.scope(strict=True, mode="exact")
    def leaky() -> None:
        SINK.append(torch.ones(1))

    with pytest.raises(torchwarden.TensorLeakError):
        leaky()


def test_report_before_exit_is_a_clear_error() -> None:
    s = torchwarden.scope("early")
    with pytest.raises(torchwarden.ScopeError, match="after the block"):
        _ = s.report


def test_reentering_a_scope_is_a_clear_error() -> None:
    s = torchwarden.scope("once", mode="exact")
    with s:
        pass
    with pytest.raises(torchwarden.ScopeError, match="already entered"), s:
        pass


def test_bad_mode_names_the_choices() -> None:
    with pytest.raises(ValueError, match="'auto', 'exact' or 'counters'"):
        torchwarden.scope(mode="fast")  # type: ignore[arg-type]


def test_report_renders_and_serialises() -> None:
    import json

    with torchwarden.scope("render", mode="exact") as s:
        SINK.append(torch.ones(8, 8))
    text = str(s.report)
    assert "SINK[0]" in text and "256 B" in text
    data = json.loads(json.dumps(s.report.to_dict()))
    assert data["schema"] == "torchwarden.scope/1"
    leak = data["leaks"][0]
    for key in (
        "kind",
        "message",
        "fix",
        "holder",
        "site",
        "nbytes",
        "device",
        "retains_graph",
        "graph_bytes",
    ):
        assert key in leak
    assert data["memory"]["after"]["cpu"]["tensor_bytes"] > 0
