"""The examples in docs/blocks.md run as they stand (those marked skip need processes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "blocks.md"
BLOCK = re.compile(r"```python\n(.*?)```\n(<!-- skip)?", re.S)


def examples() -> list[str]:
    return [code for code, skip in BLOCK.findall(DOC.read_text()) if not skip]


def test_the_doc_has_an_example_per_block() -> None:
    assert len(BLOCK.findall(DOC.read_text())) == 5
    assert len(examples()) == 4


@pytest.mark.parametrize("code", examples(), ids=lambda c: c.split("import ")[-1].split()[0])
def test_example_runs(code: str) -> None:
    exec(compile(code, str(DOC), "exec"), {"__name__": "docs_blocks"})
