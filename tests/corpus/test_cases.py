"""Every way of keeping a tensor the issue lists: found once, with the user's line and holder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.corpus.cases import CASES, COMPILED
from tests.corpus.harness import line_of, run_program
from tests.corpus.programs import planted


@pytest.mark.parametrize("name", sorted(CASES))
def test_planted_case_is_found(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    source = case.source()
    monitor = run_program(tmp_path, name, source)
    assert len(monitor.leaks) == 1, "\n".join(map(str, monitor.leaks)) or "no leak found"
    (leak,) = monitor.leaks
    assert leak.holder == case.holder, leak
    made = f"{name}.py:{line_of(source, 'SITE')}"
    if case.alias:  # its own line, and where the storage it shares was made
        assert (leak.site, leak.storage_site) == (f"{name}.py:{line_of(source, 'KEEP')}", made)
    else:
        assert (leak.site, leak.storage_site) == (made, None), leak
    assert "0x" not in leak.holder and "0x" not in leak.message  # no memory addresses
    assert leak.fix and leak.message.count("keeps growing") == 1


def test_every_nth_step_is_confirmed_within_ten_n_steps(tmp_path: Path) -> None:
    for n in (5, 10):
        monitor = run_program(tmp_path, f"n{n}", CASES[f"every_{n}th_step"].source())
        (leak,) = monitor.leaks
        assert leak.seen_at_steps[-1] <= 10 * n, leak.seen_at_steps


def test_compiled_loop_leak_found_and_clean_loop_clean(tmp_path: Path) -> None:
    pytest.importorskip("torch._dynamo")
    clean = run_program(tmp_path, "compiled", COMPILED)
    assert clean.leaks == [], "\n".join(map(str, clean.leaks))
    source = planted(COMPILED, "hist.append(out)")
    leaky = run_program(tmp_path, "compiled", source)
    (leak,) = leaky.leaks
    assert leak.holder == "global hist"
    assert leak.site == f"compiled.py:{line_of(source, 'SITE')}", leak


COUNTED = (
    COMPILED
    + """\
from torch._dynamo.utils import counters
print("compiled", counters["stats"]["unique_graphs"], sum(counters["graph_break"].values()))
"""
)


def test_compiled_loop_under_run_same_exit_code_no_extra_compilation(tmp_path: Path) -> None:
    pytest.importorskip("torch._dynamo")
    (tmp_path / "train.py").write_text(planted(COUNTED, "hist.append(out)"))
    env = {**os.environ, "TORCHWARDEN_EXAM_BUDGET": "1"}
    runs = [
        subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
        for cmd in (
            [sys.executable, "train.py"],
            [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--out", "o", "train.py"],
        )
    ]
    plain, governed = runs
    assert plain.returncode == governed.returncode == 0, governed.stderr
    counts = [next(x for x in r.stdout.splitlines() if x.startswith("compiled")) for r in runs]
    assert counts[0] == counts[1], counts  # graphs and graph breaks: the same
    record = json.loads((tmp_path / "o" / "run.json").read_text())
    assert [f["holder"] for f in record["findings"] if f["kind"] == "leak"] == ["global hist"]
