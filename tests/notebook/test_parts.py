"""The extension's parts in this process: sizes, what was seen, the swept recorder, holders."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from torchwarden.lifecycle import holdings
from torchwarden.lifecycle.holder import Holder
from torchwarden.notebook.names import holder_label, namespace_holders, output_names
from torchwarden.notebook.recording import PRUNE_EVERY, CellRecorder
from torchwarden.notebook.seen import Seen
from torchwarden.units import parse_bytes

KEPT: list[torch.Tensor] = []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10MiB", 10 << 20), ("1.5 GiB", 3 << 29), ("512", 512), ("0", 0), ("4kib", 4096)],
)
def test_sizes_are_read_in_iec_units(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["10MB", "ten", "-1", "inf", "nan", ""])
def test_what_is_not_a_size_is_refused(text: str) -> None:
    assert parse_bytes(text) is None


def test_a_view_of_a_seen_storage_is_not_new() -> None:
    seen = Seen()
    base = torch.zeros(1024)
    seen.reset([base])
    assert not seen.is_new(base)
    assert not seen.is_new(base[10:20])  # a new object, but it pins no new memory
    assert seen.is_new(torch.zeros(1024))


def test_a_dead_tensors_id_and_address_are_not_mistaken_for_it() -> None:
    seen = Seen()
    old = torch.zeros(4096)
    seen.add([old])
    del old
    fresh = torch.zeros(4096)  # the allocator may hand out the same address again
    assert seen.is_new(fresh)


def test_the_recorder_sweeps_dead_entries_and_names_survivors() -> None:
    rec = CellRecorder()
    rec.push()
    try:
        batch = [torch.ones(1) for _ in range(2 * PRUNE_EVERY)]  # alive at once: no id reuse
        del batch
        for _ in range(PRUNE_EVERY):
            torch.ones(1)
        KEPT.append(torch.ones(2) * 3)
    finally:
        rec.pop()
    try:
        assert rec.entries() < PRUNE_EVERY + 10
        survivors = rec.alive()
        assert any(t is KEPT[-1] for t in survivors)
        site = rec.where(KEPT[-1])
        assert (
            site is not None
            and site.user is not None
            and __file__.endswith(site.user.rsplit(":", 1)[0])
        )
        del survivors
    finally:
        rec.release()
        KEPT.clear()
    assert rec.entries() == 0


def test_names_bound_in_the_namespace_need_no_walk() -> None:
    a, b = torch.zeros(3), torch.zeros(4)
    ns = {"a": a, "_hidden": b, "Out": {7: b}, "_": b, "_7": b}
    found = namespace_holders(ns, [a, b])
    assert found[id(a)] == Holder("global a", "global")
    assert found[id(b)].kind == "ipython"
    assert output_names(ns, b) == ["Out[7]", "_"]
    del ns["Out"][7]
    assert output_names(ns, b) == ["_7", "_"]


def test_given_holders_are_used_and_labelled() -> None:
    t = torch.zeros(8)
    (held,) = holdings(
        [t], named={id(t): Holder("local h of f() (in sys.last_traceback)", "local")}
    )
    assert holder_label(held, {}) == "last traceback: local h of f()"
    assert held.nbytes == 32 and held.ref() is t
    state = Holder("global model.fc.weight", "state")
    (param,) = holdings([t], named={id(t): state})
    assert holder_label(param, {}) == "model (parameters and state)"


def test_the_extension_entry_points_keep_import_light() -> None:
    code = (
        "import sys, torchwarden\n"
        "assert callable(torchwarden.load_ipython_extension)\n"
        "assert callable(torchwarden.unload_ipython_extension)\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "False\n"
