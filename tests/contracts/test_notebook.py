"""docs/notebooks/contracts.ipynb runs in a real Jupyter kernel and shows a contract error."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebooks" / "contracts.ipynb"


@pytest.mark.slow
def test_the_notebook_executes_and_names_the_broken_argument() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=240, kernel_name="python3").execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert [e.ename for e in errors] == ["ShapeContractError"]  # the one tagged raises-exception
    assert "argument `mask` has the wrong shape" in errors[0].evalue
    assert "bindings: batch=32 (from ids), seq=128 (from ids)" in errors[0].evalue
    assert "passed at: In[2]:2" in errors[0].evalue  # the cell, not a temporary file
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "argument `ids` has dtype float32" in text
    assert "argument `ids` is on meta, not on cpu" in text
    last = outputs[-1]["data"]["text/plain"]
    assert last == "(True, ['output.hidden', 'output.logits'])"
