"""The examples of docs/leaks.md (and the README text drawn from it) run verbatim."""

from __future__ import annotations

import re
import runpy
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
