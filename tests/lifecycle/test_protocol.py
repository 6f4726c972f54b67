"""The scope's protocol for code that cannot use ``with``: open, close, results, snapshot."""

from __future__ import annotations

import pytest
import torch

import torchwarden
from torchwarden.lifecycle.examine import examine
from torchwarden.lifecycle.scope import TensorScope
from torchwarden.lifecycle.snapshot import take_snapshot

SINK: list[torch.Tensor] = []


@pytest.fixture(autouse=True)
def _empty_sink() -> None:
    SINK.clear()


def test_open_and_close_walk_the_lifecycle() -> None:
    s = TensorScope("protocol", mode="exact")
    assert s.state == "new"
    assert s.open() is s and s.state == "open"
    SINK.append(torch.ones(5))
    report = s.close()
    assert s.state == "closed" and report is s.report
    assert [leak.holder for leak in report.leaks] == [f"{__name__}.SINK[0]"]


def test_close_without_open_and_twice_are_clear_errors() -> None:
    s = TensorScope("unopened", mode="exact")
    with pytest.raises(torchwarden.ScopeError, match="Call open"):
        s.close()
    s.open()
    s.close()
    with pytest.raises(torchwarden.ScopeError, match="once"):
        s.close()
    with pytest.raises(torchwarden.ScopeError, match="already entered"):
        s.open()


def test_close_names_the_error_and_strict_stays_quiet_for_it() -> None:
    s = TensorScope("failed", mode="exact", strict=True).open()
    SINK.append(torch.ones(2))
    report = s.close(RuntimeError("the block failed"))
    assert report.exception == "RuntimeError" and len(report.leaks) == 1


def test_strict_close_raises_and_keeps_the_report() -> None:
    s = TensorScope("strict", mode="exact", strict=True).open()
    SINK.append(torch.ones(2))
    with pytest.raises(torchwarden.TensorLeakError) as info:
        s.close()
    assert info.value.report is s.report and s.report.leaks[0].nbytes == 8


def _bound_here(results: str) -> torchwarden.ScopeReport:
    s = TensorScope(f"bound-{results}", mode="exact", results=results).open()  # type: ignore[arg-type]
    kept = torch.ones(3) * 2
    report = s.close()
    del kept
    return report


def test_results_caller_are_names_where_the_block_runs() -> None:
    assert _bound_here("caller").leaks == []
    assert _bound_here("caller").outputs == 1


def test_results_returned_are_not_bound_anywhere() -> None:
    leaks = _bound_here("returned").leaks
    assert [(leak.holder, leak.holder_kind) for leak in leaks] == [
        ("local kept of _bound_here()", "local")
    ]


def _opened_elsewhere(results: str) -> TensorScope:
    return TensorScope(f"elsewhere-{results}", mode="exact", results=results).open()  # type: ignore[arg-type]


def test_results_running_are_names_in_any_running_frame() -> None:
    # opened in a helper that has returned: only "running" sees this frame's names
    s = _opened_elsewhere("running")
    loss = torch.ones(4) * 3
    assert s.close().leaks == []
    s = _opened_elsewhere("caller")
    loss = torch.ones(4) * 3
    (leak,) = s.close().leaks
    assert leak.holder.startswith("local loss of ") and leak.holder_kind == "local"
    del loss


def test_bad_results_names_the_choices() -> None:
    with pytest.raises(ValueError, match="'caller', 'returned' or 'running'"):
        torchwarden.scope(results="mine")  # type: ignore[arg-type]


def test_snapshot_knows_what_existed() -> None:
    old = torch.zeros(16)
    snap = take_snapshot("snap", exact=True)
    new = torch.zeros(16)
    assert snap.existed(old) and not snap.existed(new)
    assert snap.shares_old_storage(old[2:]) and not snap.shares_old_storage(new[2:])
    snap.release()
    assert not snap.existed(old) and snap.enclosing is None


def test_snapshot_without_census_for_counters() -> None:
    snap = take_snapshot("cheap", exact=False, enclosing=object())
    assert snap.tensors == {} and snap.enclosing is None
    assert snap.before[0][1] > 0  # the process's RSS


def test_examine_takes_a_snapshot_and_kept_ids() -> None:
    snap = take_snapshot("direct", exact=True)
    handed_out = torch.ones(2) * 2
    SINK.append(handed_out)
    report = examine(snap, kept={id(handed_out)}, exception="ValueError")
    assert report.name == "direct" and report.exception == "ValueError"
    assert report.leaks == [] and report.outputs == 1
    report = examine(snap)
    assert [leak.nbytes for leak in report.leaks] == [8] and report.outputs == 0


def test_report_renders_as_its_table_in_ipython_and_jupyter() -> None:
    from IPython.lib.pretty import pretty

    kept: list[torch.Tensor] = []
    with torchwarden.scope("shown", mode="exact") as s:
        kept.append(torch.ones(3) * 2)
    assert pretty(s.report) == s.report.render()
    html = s.report._repr_html_()
    assert html.startswith("<pre>") and "torchwarden scope &#x27;shown&#x27;" in html
    assert "kept[0]" in html
