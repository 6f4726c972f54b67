"""RunConfig: validated once, and carried whole to every rank as JSON."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torchwarden.errors import RunError
from torchwarden.runtime.config import CONFIG_VAR, RunConfig

configs = st.builds(
    RunConfig,
    out_dir=st.builds(Path, st.text(st.characters(blacklist_categories=["Cs"]), min_size=1)),
    name=st.text(),
    leak_check=st.booleans(),
    memory_fraction=st.none() | st.floats(min_value=0.0, max_value=1.0, exclude_min=True),
    progress=st.booleans(),
    report=st.booleans(),
    rank=st.integers(min_value=0, max_value=2**31),
    summary=st.booleans(),
    audit_transfers=st.booleans(),
)


@given(configs)
def test_round_trip(config: RunConfig) -> None:
    assert RunConfig.from_json(config.to_json()) == config


def test_every_field_travels() -> None:
    """A new field needs no code in to_json/from_json: each one is in the JSON."""
    config = RunConfig(Path("out"), "name")
    assert set(json.loads(config.to_json())) == {f.name for f in dataclasses.fields(RunConfig)}


def test_for_rank_is_a_quiet_rank() -> None:
    config = RunConfig(Path("runs/x"), "x", memory_fraction=0.5, audit_transfers=True)
    rank = config.for_rank(3)
    assert rank.out_dir == Path("runs/x/rank-3") and rank.rank == 3
    assert not (rank.progress or rank.report or rank.summary)
    assert rank.memory_fraction == 0.5 and rank.audit_transfers


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", rf"{CONFIG_VAR} is not JSON"),
        ("[1]", r"must be a JSON object, got list"),
        ('{"name": "x"}', r"missing 1 required positional argument: 'out_dir'"),
        ('{"out_dir": "o", "name": "x", "colour": 1}', r"does not know: colour\. Run every rank"),
        ('{"out_dir": "o", "name": "x", "rank": true}', r"rank must be int, got True"),
        ('{"out_dir": "o", "name": "x", "leak_check": "no"}', r"leak_check must be bool, got 'no'"),
        ('{"out_dir": 3, "name": "x"}', r"out_dir must be Path, got 3"),
        ('{"out_dir": "o", "name": "x", "memory_fraction": 2}', r"--memory-fraction must be in \(0, 1\]"),
    ],
)  # fmt: skip
def test_bad_json_is_explained(text: str, message: str) -> None:
    with pytest.raises(RunError, match=message):
        RunConfig.from_json(text)


def test_from_options_takes_the_fields_it_knows() -> None:
    """The CLI passes all its options; those named as fields become the config."""
    options = {
        "leak_check": False,
        "memory_fraction": 0.25,
        "gpus": "2",
        "nnodes": "1",
        "name": None,
    }
    config = RunConfig.from_options(options, out_dir=Path("o"), name="n")
    assert config == RunConfig(Path("o"), "n", leak_check=False, memory_fraction=0.25)


def test_every_field_but_the_derived_ones_is_a_run_option() -> None:
    """Adding a field to RunConfig and a click option of its name is all a new option needs."""
    from torchwarden.cli.run import run

    options = {p.name for p in run.params}
    derived = {"out_dir", "name", "rank", "summary"}  # set by the CLI or per rank, not options
    assert {f.name for f in dataclasses.fields(RunConfig)} - derived <= options
