"""Leaks are typed findings: sites from frames, sightings as data, words from one place."""

from __future__ import annotations

import copy
import json
import os

import pytest
import torch

import torchwarden
from tests.lifecycle.helpers import site
from torchwarden.findings import LeakFinding, finding_from_dict
from torchwarden.lifecycle.leaks import leak_message, sighted

HOLD: list[torch.Tensor] = []


@pytest.fixture(autouse=True)
def _empty_hold() -> None:
    HOLD.clear()


def test_scope_leaks_are_leak_findings_that_round_trip() -> None:
    with torchwarden.scope("typed", mode="exact") as s:
        HOLD.append(torch.ones(3) * 2)  # SITE:typed
    (leak,) = s.report.leaks
    assert isinstance(leak, LeakFinding) and torchwarden.Leak is LeakFinding
    assert leak.kind == "leak" and leak.holder_kind == "module"
    assert leak.site == site(__file__, "SITE:typed") and leak.library_site is None
    assert leak.message.startswith("3 float32 tensor (12 B on cpu) created at ")
    data = json.loads(json.dumps(s.report.to_dict()))["leaks"][0]
    assert finding_from_dict(data) == leak


def test_a_library_that_made_the_tensor_is_named_beside_the_users_line() -> None:
    base = torch.ones(4)
    with torchwarden.scope("library", mode="exact") as s:
        HOLD.append(copy.deepcopy(base))  # SITE:library
    (leak,) = s.report.leaks
    assert leak.site == site(__file__, "SITE:library")
    assert leak.library_site is not None
    path, _, line = leak.library_site.rpartition(":")
    assert os.path.samefile(path, copy.__file__) and int(line) > 0
    assert f"(via {leak.library_site})" in leak.message


def _finding() -> LeakFinding:
    leak = LeakFinding(
        message="", holder="global history[3]", holder_kind="global", site="train.py:4"
    )
    return leak.replace(step=3, first_step=3, count=0)


def test_sightings_are_data_and_each_step_is_listed_once() -> None:
    f = sighted(_finding(), 3)
    assert f.seen_at_steps == (3,) and f.count == 1 and "found again" not in f.message
    f = sighted(f, 3)  # a second tensor of the group in the same examination
    assert f.seen_at_steps == (3,) and f.count == 2 and "found again" not in f.message
    f = sighted(sighted(f, 5), 5)
    assert f.seen_at_steps == (3, 5) and f.count == 4
    assert f.message.endswith("; found again at steps 3, 5: it grows")
    assert f.message == leak_message(f) and f.message.count("found again") == 1


def test_message_and_fix_follow_the_fields() -> None:
    f = _finding().replace(retains_graph=True, graph_bytes=3 << 20, shape=(8, 2), dtype="float16")
    text = leak_message(f)
    assert text.startswith("8x2 float16 tensor (0 B on cpu) created at train.py:4 is still held")
    assert text.endswith("keeping 3.0 MiB of autograd graph")
