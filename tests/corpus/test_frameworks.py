"""A Hugging Face Trainer and a Lightning module: clean, and with one planted leak each."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpus.frameworks import FRAMEWORK_PLANTS, FRAMEWORKS
from tests.corpus.harness import line_of, run_program
from tests.corpus.programs import planted

# the frameworks' own deprecation notices are theirs to fix, not what these tests judge
pytestmark = pytest.mark.filterwarnings(
    "ignore::FutureWarning", "ignore::DeprecationWarning", "ignore::UserWarning"
)
PACKAGES = {"hf_trainer": "transformers", "lightning": "lightning"}


@pytest.mark.parametrize("name", sorted(FRAMEWORKS))
def test_framework_program_is_clean(tmp_path: Path, name: str) -> None:
    pytest.importorskip(PACKAGES[name])
    monitor = run_program(tmp_path, name, FRAMEWORKS[name])
    assert monitor.leaks == [], "\n".join(map(str, monitor.leaks))
    assert monitor.step_count == 40 and monitor.step_source == "optimizer steps"


@pytest.mark.parametrize("name", sorted(FRAMEWORKS))
def test_framework_planted_leak_found_at_users_line(tmp_path: Path, name: str) -> None:
    pytest.importorskip(PACKAGES[name])
    source = planted(FRAMEWORKS[name], FRAMEWORK_PLANTS[name])
    monitor = run_program(tmp_path, name, source)
    assert len(monitor.leaks) == 1, "\n".join(map(str, monitor.leaks)) or "no leak found"
    (leak,) = monitor.leaks
    assert leak.site == f"{name}.py:{line_of(source, 'SITE')}", leak
    assert leak.holder == "global kept", leak
