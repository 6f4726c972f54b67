"""Through a real kernel: each kind of holder is named, with its cell, line and bytes."""

from __future__ import annotations

import re

from tests.notebook.kernel import Kernel

FOUR_MIB = "torch.zeros(1024, 1024)"  # float32: 4.0 MiB of storage


def test_a_top_level_name_is_named_with_its_cell_and_line(kernel: Kernel) -> None:
    cell = kernel.ok(f"x = 1\noutputs = {FOUR_MIB}")
    assert re.search(
        r"In\[\d+\] left 4\.0 MiB newly held — outputs 4\.0 MiB \(In\[2\]:2\)", cell.report
    )
    html = next(d["text/html"] for d in cell.displays if "text/html" in d)
    assert "<td>outputs</td>" in html and "<td>In[2]:2</td>" in html


def test_a_view_counts_its_storage_once(kernel: Kernel) -> None:
    cell = kernel.ok(f"base = {FOUR_MIB}\nrows = [base[i] for i in range(3)]")
    assert "4.0 MiB newly held" in cell.report, cell.report


def test_the_output_cache_and_underscore_are_named(kernel: Kernel) -> None:
    shown = kernel.ok(f"{FOUR_MIB}")
    assert "Out[2], _ 4.0 MiB (In[2]:1)" in shown.report
    kernel.ok("del Out[2]")
    listed = kernel.ok("%tw").report
    assert re.search(r"^  _2, _ +1 +4\.0 MiB", listed, re.M), listed


def test_a_raised_exceptions_traceback_is_named(kernel: Kernel) -> None:
    cell = kernel.run(f"def f():\n    h = {FOUR_MIB}\n    raise ValueError('bad batch')\nf()")
    assert cell.error == "ValueError: bad batch"
    assert "last traceback: local h of f() 4.0 MiB (In[2]:2)" in cell.report


def test_a_closure_is_named(kernel: Kernel) -> None:
    code = f"def make():\n    cache = {FOUR_MIB}\n    def get():\n        return cache\n    return get\n"
    cell = kernel.ok(code + "getter = make()")
    assert "closure of make.<locals>.get (variable cache) 4.0 MiB (In[2]:2)" in cell.report


def test_graph_bytes_are_counted_apart(kernel: Kernel) -> None:
    kernel.ok("w = torch.randn(1024, 1024, requires_grad=True)")
    cell = kernel.ok("y = (w * 2).sin()")
    assert "y 4.0 MiB +4.0 MiB graph (In[3]:1)" in cell.report, cell.report


def test_current_holdings_list_every_holder(kernel: Kernel) -> None:
    kernel.ok(f"a = {FOUR_MIB}\nb = [{FOUR_MIB}]")
    listed = kernel.ok("%tw").report
    assert "this kernel holds 8.0 MiB of tensors (this process only)" in listed
    assert re.search(r"^  a +1 +4\.0 MiB +— +cpu +In\[2\]:1$", listed, re.M), listed
    assert re.search(r"^  b\[…\] +1 +4\.0 MiB", listed, re.M), listed  # items of a list: one row


def test_a_training_loop_reads_as_a_few_holdings(kernel: Kernel) -> None:
    kernel.ok(
        "model = torch.nn.Linear(512, 512)\nopt = torch.optim.SGD(model.parameters(), lr=0.1)"
    )
    loop = (
        "history = []\n"
        "for step in range(20):\n"
        "    loss = model(torch.randn(64, 512)).pow(2).mean()\n"
        "    opt.zero_grad()\n"
        "    loss.backward()\n"
        "    opt.step()\n"
        "    history.append(loss)\n"
    )
    cell = kernel.ok(loop)
    assert "gradients (.grad of parameters) 1.0 MiB" in cell.report, cell.report
    listed = kernel.ok("%tw").report
    # the kept losses are one holding (the last one is named `loss`, a shorter path), and
    # none keeps a graph once backward has run
    assert re.search(r"^  history\[…\] +19 +76 B +— +cpu +In\[3\]:3$", listed, re.M), listed
    assert re.search(r"^  loss +1 +4 B +— +cpu +In\[3\]:3$", listed, re.M), listed
    assert re.search(r"^  model \(parameters and state\) +2 +1\.0 MiB .* In\[2\]:1$", listed, re.M)
