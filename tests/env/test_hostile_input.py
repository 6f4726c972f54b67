"""Malformed and hostile fingerprints: a clear error and exit code 2, never a traceback or a hang."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.env.env_helpers import FIXTURES, fixture, run_cli
from torchwarden.cli import cli

GOOD = str(FIXTURES / "gpu-h200.json")
MARKUP = "[/bold][link=https://example.com]x[/link][red]"
COMMANDS = (
    ("doctor", "--fingerprint", "{}"),
    ("env", "diff", "{}", GOOD),
    ("env", "dockerfile", "--fingerprint", "{}"),
)
pytestmark = pytest.mark.timeout(600)


def _invoke(args: tuple[str, ...], path: Path) -> Result:
    argv = [a.replace("{}", str(path)) for a in args]
    return CliRunner().invoke(cli, argv, env={"COLUMNS": "200"})


def _no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}\n{result.output}"
    )
    assert result.exit_code in (0, 1, 2)
    assert "Traceback" not in result.output


def _refused(result: Result, *needles: str) -> None:
    _no_traceback(result)
    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())  # rich wraps long lines
    for needle in needles:
        assert needle in said, result.stderr


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b"[" * 100_000 + b"]" * 100_000, "nests deeper than 32 levels"),
        (b'{"schema": "torchwarden.env/1", "fingerprint": {"host": {"shm_bytes": 1' + b"0" * 5000 + b"}}}", "integer of 5001 digits"),
        (b'{"schema": "torchwarden.env/1", "fingerprint": {"torch": {"version": 1e999}}}', "too large"),
        (b'{"schema": "torchwarden.env/1", "fingerprint": {"gpus": {"0": 1}}}', "fingerprint.gpus should be a list"),
        (b'{"schema": "torchwarden.env/1", "fingerprint": {"torch": null}}', "fingerprint.torch should be an object"),
        (b'{"schema": ["x"], "fingerprint": {}}', "has schema list"),
        (b"", "is not JSON"),
    ],
)  # fmt: skip
def test_malformed_files_are_refused(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "fp.json"
    path.write_bytes(content)
    for args in COMMANDS:
        _refused(_invoke(args, path), needle, "torchwarden doctor --json PATH")


def test_special_files_are_refused_unread(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # nobody writes to it: reading it would wait for ever
    huge = tmp_path / "huge.json"
    with huge.open("wb") as f:
        f.truncate(17 << 20)  # sparse: 17 MiB of nothing
    cases = [(fifo, "is a FIFO"), ("/proc/self/status", "kernel's /proc file system"),
             ("/dev/zero", "special file"), (huge, "more than the 16777216 allowed")]  # fmt: skip
    for path, needle in cases:
        for args in COMMANDS:
            done = run_cli(*[a.replace("{}", str(path)) for a in args], timeout=60)
            assert done.returncode == 2, (path, args, done.stdout, done.stderr)
            assert needle in done.stderr and "Traceback" not in done.stderr


def test_a_directory_is_refused(tmp_path: Path) -> None:
    for args in COMMANDS:
        _refused(_invoke(args, tmp_path), "directory")


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        (("torch", "version"), "2.11.0$(touch /tmp/pwned)", "fingerprint.torch.version should be a string like '2.11.0+cu130'"),
        (("torch", "cudnn"), "9-runtime\nRUN pip install evilpkg\n#", "fingerprint.torch.cudnn should be"),
        (("gpus", 0, "name"), "H200\x1b[2J", "holds control characters"),
        (("host", "shm_bytes"), "64m", "should be an integer or null"),
        (("torch", "cuda_available"), 1, "should be true or false or null"),
        (("variables",), {MARKUP: "1"}, None),
    ],
)  # fmt: skip
def test_wrong_fields_are_named(
    tmp_path: Path, field: tuple[Any, ...], value: Any, needle: str | None
) -> None:
    document = fixture("gpu-h200.json")
    target = document["fingerprint"]
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = value
    path = tmp_path / "fp.json"
    path.write_text(json.dumps(document))
    for args in COMMANDS:
        result = _invoke(args, path)
        _no_traceback(result)
        if needle is not None:
            _refused(result, needle)
    assert not Path("/tmp/pwned").exists()


def test_markup_in_fields_is_printed_as_text(tmp_path: Path) -> None:
    document = fixture("gpu-h200.json")
    document["fingerprint"]["gpus"][0]["name"] = MARKUP
    document["fingerprint"]["variables"]["NCCL_ALGO"] = MARKUP
    path = tmp_path / "fp.json"
    path.write_text(json.dumps(document))
    doctor = _invoke(COMMANDS[0], path)
    _no_traceback(doctor)
    assert MARKUP in doctor.output
    diff = _invoke(COMMANDS[1], path)
    _no_traceback(diff)
    assert MARKUP in diff.output


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*prefix, i))
    return found


HOSTILE_TEXT = st.sampled_from([MARKUP, "\x1b[31m", "2.11.0$(id)", "9\nRUN x", "²", "9" * 50, ""])
HOSTILE = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30) | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)  # fmt: skip
BASE = fixture("gpu-h200.json")
PATHS = _paths(BASE)


@settings(
    max_examples=int(os.environ.get("TW_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(st.lists(st.tuples(st.sampled_from(PATHS), HOSTILE), min_size=1, max_size=3))
@example(edits=[(("probes", 4, "kind"), "")])  # found by CI: a probe of no known kind
@example(edits=[(("rules", 0, "kind"), "probe")])
def test_any_mutation_of_a_fingerprint_gives_no_traceback(
    tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[tuple[Any, ...], Any]]
) -> None:
    document = copy.deepcopy(BASE)
    for path, value in edits:
        target: Any = document
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit replaced a parent
    file = tmp_path_factory.mktemp("fp") / "fp.json"
    file.write_text(json.dumps(document))
    for args in COMMANDS:
        _no_traceback(_invoke(args, file))


@settings(
    max_examples=int(os.environ.get("TW_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(st.binary(max_size=2000))
def test_any_bytes_give_no_traceback(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    file = tmp_path_factory.mktemp("fp") / "fp.json"
    file.write_bytes(data)
    for args in COMMANDS:
        _refused(_invoke(args, file))
