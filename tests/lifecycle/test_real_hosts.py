"""The scope in the hosts users run it in: a script run as __main__, IPython, pytest."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = """\
import json, torch, torchwarden
history = []
for step in range(4):
    with torchwarden.scope("train", mode="exact") as s:
        loss = (torch.randn(8, 4, requires_grad=True) * 2).sum()
        history.append(loss)
print(json.dumps(s.report.to_dict()))
"""


def test_script_global_is_named_as_written(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    leak = json.loads(out.stdout)["leaks"][0]
    assert leak["holder"] == "global history[3]"
    assert leak["site"] == "train.py:5"
    assert leak["retains_graph"] and leak["graph_bytes"] > 0


IPYTHON = """\
import json
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
cells = [
    "import torch, torchwarden",
    "s = torchwarden.scope('cell', mode='exact'); s.__enter__()",
    "torch.ones(5) * 3",
    "s.__exit__(None, None, None)",
]
for cell in cells:
    shell.run_cell(cell, store_history=True)
print("REPORT" + json.dumps(shell.user_ns["s"].report.to_dict()))
"""


def test_ipython_output_cache(tmp_path: Path) -> None:
    pytest.importorskip("IPython")
    script = tmp_path / "nb.py"
    script.write_text(IPYTHON)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.split("REPORT", 1)[1])
    holders = [leak["holder"] for leak in report["leaks"]]
    assert holders == ["IPython Out[3]"], report
    assert "%reset" in report["leaks"][0]["fix"] or "`;`" in report["leaks"][0]["fix"]


def test_pytest_marker_fails_a_leaking_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user=textwrap.dedent(
            """
            import pytest, torch
            CACHE = []

            @pytest.mark.no_tensor_leaks
            def test_leaks():
                CACHE.append(torch.ones(3) * 2)

            @pytest.mark.no_tensor_leaks
            def test_clean():
                x = torch.ones(3) * 2
                assert x.sum() == 6
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*leaked tensors*", "*CACHE[[]0[]]*"])
