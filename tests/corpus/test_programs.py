"""The corpus: clean programs give zero findings; each planted leak is found at the user's line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpus.harness import line_of, run_program
from tests.corpus.programs import CLEAN, PLANTS, planted


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_clean_program_has_no_finding(tmp_path: Path, name: str) -> None:
    monitor = run_program(tmp_path, name, CLEAN[name])
    assert monitor.leaks == [], "\n".join(map(str, monitor.leaks))
    assert monitor.step_count >= 20, monitor.step_source


@pytest.mark.parametrize("name", sorted(PLANTS))
def test_planted_leak_is_found_at_the_users_line(tmp_path: Path, name: str) -> None:
    source = planted(CLEAN[name], PLANTS[name])
    monitor = run_program(tmp_path, name, source)
    assert len(monitor.leaks) == 1, "\n".join(map(str, monitor.leaks)) or "no leak found"
    (leak,) = monitor.leaks
    assert leak.site == f"{name}.py:{line_of(source, 'SITE')}", leak
    container = PLANTS[name].split(".")[0]
    assert leak.holder == f"global {container}", leak
    assert leak.count >= 3 and leak.growth_per_step and leak.growth_per_step > 0


def test_two_optimizers_make_one_step(tmp_path: Path) -> None:
    monitor = run_program(tmp_path, "dcgan", CLEAN["dcgan"])
    assert monitor.step_count == 40 and monitor.step_source == "optimizer steps"


def test_loop_without_optimizer_counts_outermost_forwards(tmp_path: Path) -> None:
    monitor = run_program(tmp_path, "inference", CLEAN["inference"])
    assert monitor.step_count == 60
    assert monitor.step_source == "forwards of the outermost module (Sequential)"
    lm = run_program(tmp_path, "word_lm", CLEAN["word_lm"])
    assert lm.step_count == 40 and lm.step_source.endswith("(RNNModel)")
