"""The transfer audit: classification rules, counts on known code, budgets failing a test.

No CUDA here: "meta" stands in for a device (every non-CPU device type counts as one), so
the real interception path runs; pinned memory is covered by the pure classification rules.
"""

from __future__ import annotations

import json
import pprint

import pytest
import torch

from torchwarden.data import TransferEvent, active_audit, audit, classify_copy
from torchwarden.errors import DataError, TransferBudgetError
from torchwarden.findings import TransferFinding, finding_from_dict

CPU, CUDA0, CUDA1 = torch.device("cpu"), torch.device("cuda", 0), torch.device("cuda", 1)
THIS_FILE = "tests/data/test_audit.py"


@pytest.mark.parametrize(
    ("src", "dst", "pinned", "non_blocking", "expected"),
    [
        (CPU, CPU, False, False, None),
        (CPU, CUDA0, True, True, ("h2d", None)),
        (CPU, CUDA0, False, True, ("h2d", "pageable-non-blocking")),
        (CPU, CUDA0, True, False, ("h2d", "blocking-h2d")),
        (CPU, CUDA0, False, False, ("h2d", "blocking-h2d")),
        (CUDA0, CPU, False, False, ("d2h", "blocking-d2h")),
        (CUDA0, CPU, True, True, ("d2h", None)),
        (CUDA0, CPU, False, True, ("d2h", "pageable-non-blocking")),
        (CUDA0, CUDA1, False, False, ("d2d", None)),
        (CUDA0, CUDA0, False, False, None),
    ],
)
def test_classify_copy(
    src: torch.device, dst: torch.device, pinned: bool, non_blocking: bool, expected: object
) -> None:
    assert classify_copy(src, dst, pinned=pinned, non_blocking=non_blocking) == expected


def test_counts_on_known_code() -> None:
    x = torch.ones(4)  # 16 B
    with audit() as a:
        x.to("meta")  # blocking h2d: a sync
        x.to("meta", non_blocking=True)  # pageable + non_blocking: a hidden sync
        x.to("cpu")  # same device: nothing
        x[0].item()  # CPU value: no sync
        a.step()
        m = torch.empty(4, device="meta")
        m.copy_(x, non_blocking=True)  # hidden sync again
        print(m)  # printing a device tensor
        torch.tensor([1.0, 2.0], device="meta")  # 8 B from a Python list
    first, second = a.steps
    assert (first.h2d, first.h2d_bytes, first.syncs, first.hidden_syncs) == (2, 32, 2, 1)
    assert (second.h2d, second.h2d_bytes, second.syncs, second.hidden_syncs) == (2, 24, 3, 1)
    assert [e.op for e in a.events] == [".to()", ".to()", ".copy_()", "printing", "torch.tensor()"]
    assert all(e.site.startswith(f"{THIS_FILE}:") for e in a.events)
    assert a.totals().h2d_bytes == 56


def test_device_syncs_count_and_cpu_ones_do_not() -> None:
    m = torch.ones(3, device="meta")
    mask = torch.ones(3, dtype=torch.bool, device="meta")
    with audit() as a:
        f"{m}"
        repr(m)
        with pytest.raises(NotImplementedError):
            m[mask]  # meta cannot size the result; the call is still counted
        m[0]  # integer indexing: no sync
        with pytest.raises(RuntimeError):
            m[0].item()  # meta has no values, but the call is a sync and is counted first
        torch.ones(2).tolist()
    assert [e.op for e in a.events] == [
        "formatting",
        "printing",
        "boolean-mask indexing",
        ".item()",
    ]
    assert a.steps[0].syncs == 4


def test_budget_fails_at_the_offending_line() -> None:
    x = torch.ones(2)
    expected = rf"max_syncs_per_step=0.*{THIS_FILE}:\d+.*Fix: pin"
    with pytest.raises(TransferBudgetError, match=expected), audit(max_syncs_per_step=0):
        x.to("meta")


def test_byte_budget_is_per_step() -> None:
    x = torch.ones(4)  # 16 B
    with audit(max_h2d_bytes_per_step=16) as a:
        x.to("meta")
        a.step()
        x.to("meta")  # a new step: within budget again
        with pytest.raises(TransferBudgetError, match="32 B h2d exceed max_h2d_bytes_per_step=16"):
            x.to("meta")


def test_summary_is_json_with_findings() -> None:
    x = torch.ones(2)
    with audit() as a:
        for _ in range(3):
            x.to("meta", non_blocking=True)
            a.step()
    s = json.loads(json.dumps(a.summary()))
    assert s["schema"] == "torchwarden.transfer-audit/1"
    assert len(s["steps"]) == 3 and s["totals"]["hidden_syncs"] == 3
    [finding] = s["findings"]
    assert finding["kind"] == "hidden-sync" and finding["count"] == 3
    assert "pin_memory" in finding["fix"]
    assert "3 x .to()" in str(a) and "hidden" in str(a)
    typed = finding_from_dict(finding)
    assert isinstance(typed, TransferFinding) and typed.site.startswith(f"{THIS_FILE}:")
    assert (typed.count, typed.step, typed.severity) == (3, 0, "warning")


def test_bytes_are_printed_in_iec_units() -> None:
    x = torch.ones(3 << 18)  # 3 MiB
    with audit() as a:
        x.to("meta")
    assert "3.0 MiB" in str(a) and "3.0 MiB cpu pageable -> meta" in a.events[0].describe()
    expected = r"3\.0 MiB h2d exceed .*=1048576 \(1\.0 MiB\)"
    with pytest.raises(TransferBudgetError, match=expected), audit(max_h2d_bytes_per_step=1 << 20):
        x.to("meta")


def test_the_site_is_the_users_line_also_through_a_library() -> None:
    m = torch.ones(3, device="meta")
    with audit() as a:
        pprint.pformat([m])  # the standard library's pprint formats the tensor
    [event] = a.events
    assert event.op == "printing" and event.site.startswith(f"{THIS_FILE}:"), event.site


def test_lifecycle_and_nothing_recorded_outside() -> None:
    a = audit()
    assert active_audit() is None
    with a:
        assert active_audit() is a
    torch.ones(2).to("meta")
    assert a.events == [] and a.state == "closed"
    with pytest.raises(DataError, match="entered once"):
        a.__enter__()
    with pytest.raises(DataError, match=">= 0"):
        audit(max_syncs_per_step=-1)


def test_event_describes_itself() -> None:
    e = TransferEvent(
        "h2d", ".to()", "train.py:3", 0, 8, "cpu", "cuda:0", False, True, "pageable-non-blocking"
    )
    assert "hidden sync" in e.describe() and "train.py:3" in e.describe()


def test_nested_audits_both_count_and_unwind_in_order() -> None:
    x = torch.ones(2)
    with audit() as outer:
        with audit() as inner:
            assert active_audit() is inner
            x.to("meta")
        assert active_audit() is outer
        x.to("meta")
    assert active_audit() is None
    assert outer.totals().h2d == 2 and inner.totals().h2d == 1
    assert "budget" in repr(outer) and "events=[" not in repr(outer)
