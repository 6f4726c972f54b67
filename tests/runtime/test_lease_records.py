"""Holder records written by a hostile user: validated, bounded, shown as text, never a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.runtime.lease_helpers import RAW_LOCK, start, stop
from tests.runtime.test_gpus import fake_nvml
from torchwarden.cli.gpus import gpus
from torchwarden.errors import LeaseError
from torchwarden.runtime.lease import Holder, acquire, holders, parse_gpu_request
from torchwarden.runtime.lease_holder import HOLDER_SCHEMA, parse_holder

pytestmark = pytest.mark.timeout(240)


def _record(**fields: object) -> bytes:
    base: dict[str, object] = {"schema": HOLDER_SCHEMA, "user": "mallory", "pid": 4242,
                               "host": "h", "command": "python x.py", "since": "2026"}  # fmt: skip
    return json.dumps({**base, **fields}).encode()


MARKUP = "[/bold][link=file:///etc/passwd]click[/link] [red]x"
HOSTILE = [
    _record(user=5, pid="4242"),  # wrong types
    _record(pid=10**30),  # a huge integer
    b'{"schema": "torchwarden.lease/1", "user": '
    + b"[" * 1900
    + b"]" * 1900
    + b"}",  # deep, within 4 KiB
    _record(user=MARKUP),  # rich markup: printed as text
    _record(user="\x1b[2J\x1b[31mroot"),  # terminal escapes
    b"\xff\xfe not utf-8",
    _record(pid=float("nan")).replace(b"NaN", b"1e999"),
    _record(pid=True),
]


def test_parse_holder_takes_good_records_only() -> None:
    good = parse_holder(_record())
    assert good == Holder(user="mallory", pid=4242, host="h", command="python x.py", since="2026")
    shown = [parse_holder(r) for r in HOSTILE]
    assert [h.user if h else None for h in shown] == [
        None,
        None,
        None,
        MARKUP,
        None,
        None,
        None,
        None,
    ]


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.binary(max_size=5000))
def test_parse_holder_never_raises_on_bytes(data: bytes) -> None:
    parse_holder(data)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@SETTINGS
@given(
    st.dictionaries(st.sampled_from(["schema", "user", "pid", "host", "command", "since"]), JSON)
)
def test_parse_holder_never_raises_on_json(fields: dict[str, object]) -> None:
    holder = parse_holder(json.dumps({"schema": HOLDER_SCHEMA, **fields}).encode())
    assert holder is None or (isinstance(holder.pid, int) and holder.user.isprintable())


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[Path]:
    """GPUs 0-3 held by raw lockers, each with a hostile record; yields the lease directory."""
    lease_dir = tmp_path / "leases"
    lease_dir.mkdir()
    records = [HOSTILE[0], HOSTILE[2], HOSTILE[3], HOSTILE[4]]
    procs = [
        start(RAW_LOCK, str(lease_dir / f"gpu-{i}.lock"), r.hex()) for i, r in enumerate(records)
    ]
    yield lease_dir
    for proc in procs:
        stop(proc)


def test_hostile_records_are_named_as_unreadable_or_text(hostile: Path) -> None:
    found = holders(hostile, range(4))
    assert found[0] == found[1] == found[3] == Holder.unnamed()
    assert found[2] is not None and found[2].user == MARKUP
    with pytest.raises(LeaseError, match=r"Asked for 1 GPUs but 0 of 4 are free") as info:
        acquire(parse_gpu_request("1"), available=range(4), lease_dir=hostile, keeper=False)
    assert "\x1b" not in str(info.value)


def test_gpus_shows_hostile_records_as_text(hostile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(4))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("COLUMNS", "400")
    result = CliRunner().invoke(gpus, ["--lease-dir", str(hostile)])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert "[/bold][link=file:///etc/passwd]click[/link] [red]x" in result.output
    assert "\x1b[2J" not in result.output
    result = CliRunner().invoke(gpus, ["--json", "--lease-dir", str(hostile)])
    leases = [g["lease"] for g in json.loads(result.output)["gpus"]]
    assert leases[2]["user"] == MARKUP and leases[0]["pid"] == -1


def test_run_gpus_reports_hostile_holders_without_a_traceback(hostile: Path) -> None:
    (hostile.parent / "train.py").write_text("print('ran')\n")
    env = {**os.environ, "TORCHWARDEN_FAKE_GPU_COUNT": "4", "TORCHWARDEN_LEASE_DIR": str(hostile)}
    done = subprocess.run(
        [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--gpus", "1", "train.py"],
        cwd=hostile.parent, capture_output=True, text=True, env=env, timeout=200,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "ran" not in done.stdout
    assert "GPU 0 is leased by an unnamed process" in done.stderr
    assert MARKUP in done.stderr
