"""The examples of docs/leaks.md (and the README text drawn from it) run verbatim."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).parents[2] / "docs" / "leaks.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_doc_has_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs_verbatim(
    tmp_path: Path, index: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"example{index}.py"
    path.write_text(BLOCKS[index])
    runpy.run_path(str(path), run_name="__main__")  # each block asserts what it shows
    assert "torchwarden scope" in capsys.readouterr().out


README = Path(__file__).parents[2] / "README.md"


def test_the_readme_scope_example_runs_verbatim_and_shows_what_it_says(tmp_path: Path) -> None:
    block = next(b for b in re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
                 if "torchwarden.scope(" in b)  # fmt: skip
    (tmp_path / "train.py").write_text(block)
    proc = subprocess.run(  # a fresh interpreter, as a reader would run it
        [sys.executable, "train.py"], cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "3 leaked tensor(s), 384 KiB" in out
    assert "global history[0]" in out and "128 KiB" in out and "keep `loss.item()`" in out
