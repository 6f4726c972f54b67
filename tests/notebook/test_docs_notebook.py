"""docs/notebooks/leaks.ipynb runs top to bottom in a real kernel and shows what it says."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.notebook.kernel import KERNEL_NAME, TIMEOUT_S, kernel_manager

NOTEBOOK = Path(__file__).parents[2] / "docs" / "notebooks" / "leaks.ipynb"


def _texts(cell: nbformat.NotebookNode) -> list[str]:
    out = []
    for o in cell.get("outputs", []):
        if o["output_type"] in ("display_data", "execute_result"):
            out.append(o["data"].get("text/plain", ""))
        elif o["output_type"] == "stream":
            out.append(o["text"])
    return out


def _report(nb: nbformat.NotebookNode, starts: str) -> str:
    code = [c for c in nb.cells if c.cell_type == "code"]
    cell = next(c for c in code if c.source.startswith(starts))
    return next(t for t in _texts(cell) if t.startswith("torchwarden:"))


def test_the_leak_notebook_finds_and_releases_its_leaks(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    km = kernel_manager(tmp_path)
    try:
        client = NotebookClient(nb, km=km, kernel_name=KERNEL_NAME, timeout=TIMEOUT_S)
        client.execute(cleanup_kc=True)
    finally:
        km.shutdown_kernel(now=True)
    assert "outputs 80.0 KiB +16.0 MiB graph (In[3]:1)" in _report(nb, "outputs = model")
    assert "Out[4], _ 80.0 KiB +16.0 MiB graph" in _report(nb, "outputs.softmax")
    assert "last traceback: local hidden of evaluate()" in _report(nb, "def evaluate")
    released = _report(nb, "%tw release")
    match = re.fullmatch(
        r"torchwarden: released outputs, Out, traceback: cpu ([\d.]+) MiB .*", released
    )
    assert match is not None and float(match.group(1)) >= 24, released
    after = _texts(nb.cells[-1])[0]  # the last cell lists what is left
    assert "holds 12.0 MiB" in after and "outputs" not in after and "traceback" not in after
