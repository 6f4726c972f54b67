"""Through a real kernel: release measures what came back; quiet cells, threshold, errors."""

from __future__ import annotations

from tests.notebook.kernel import Kernel

FOUR_MIB = "torch.zeros(1024, 1024)"
LAST_FRAME = (
    "import sys, weakref\ntb = sys.last_traceback\nwhile tb.tb_next:\n    tb = tb.tb_next\n"
)
MODES = "from torch.overrides import _get_current_function_mode_stack as modes\nprint(modes())"
MEMORY_FREED = "import gc; gc.collect(); print(torch.is_tensor(t_ref()))"


def test_release_of_a_name_returns_its_storage_and_graph(kernel: Kernel) -> None:
    kernel.ok("w = torch.randn(1024, 1024, requires_grad=True)")
    kernel.ok(f"outputs = (w * 2).sin()\nkeep = {FOUR_MIB}")
    cell = kernel.ok("%tw release outputs")
    # 4 MiB of output and the 4 MiB its graph saved; `keep` and `w` stay
    assert cell.report == "torchwarden: released outputs: cpu 8.0 MiB of tensor storage"
    assert "outputs" not in kernel.ok("%tw").report
    assert kernel.ok("print('keep' in dir(), 'outputs' in dir())").stdout == "True False\n"


def test_release_by_default_clears_the_output_cache_and_the_traceback(kernel: Kernel) -> None:
    kernel.ok(f"{FOUR_MIB}")
    kernel.ok(f"{FOUR_MIB}")
    kernel.run(f"def f():\n    h = {FOUR_MIB}\n    raise ValueError\nf()")
    kernel.ok(LAST_FRAME + "t_ref = weakref.ref(tb.tb_frame.f_locals['h'])\ndel tb")
    cell = kernel.ok("%tw release")
    assert cell.report == "torchwarden: released Out, traceback: cpu 12.0 MiB of tensor storage"
    assert kernel.ok(MEMORY_FREED).stdout == "False\n"
    assert kernel.ok("print(len(Out), repr(_))").stdout == "0 ''\n"


def test_release_of_one_output_entry_leaves_the_others(kernel: Kernel) -> None:
    kernel.ok(f"{FOUR_MIB}")
    kernel.ok("torch.ones(1024, 512)")
    cell = kernel.ok("%tw release Out[2]")
    assert cell.report == "torchwarden: released Out[2]: cpu 4.0 MiB of tensor storage"
    assert kernel.ok("print(sorted(Out))").stdout == "[3]\n"


def test_unknown_names_release_nothing(kernel: Kernel) -> None:
    kernel.ok(f"a = {FOUR_MIB}")
    cell = kernel.ok("%tw release a nope")
    assert cell.stdout.startswith("UsageError: %tw release: no name 'nope' in this kernel")
    assert kernel.ok("print('a' in dir())").stdout == "True\n"


def test_a_clean_notebook_reports_nothing(kernel: Kernel) -> None:
    cells = [
        "def loss_of(batch):\n    return float((batch * 2).sum())",
        "total = loss_of(torch.randn(256, 256))",
        "print(torch.ones(3))",
        "x = torch.randn(512, 512)\ndel x",
        "torch.randn(64, 64).sum().item()",
        "results = [loss_of(torch.randn(32, 32)) for _ in range(10)]",
        "torch.zeros(16);",
    ]
    for code in cells:
        cell = kernel.ok(code)
        assert cell.reports == [], (code, cell.reports)


def test_a_threshold_keeps_small_cells_quiet(kernel: Kernel) -> None:
    assert kernel.ok("%tw threshold 10MiB").report.endswith("10.0 MiB or more")
    assert kernel.ok(f"small = {FOUR_MIB}").reports == []
    assert "big 16.0 MiB" in kernel.ok("big = torch.zeros(4, 1024, 1024)").report
    assert "write it in IEC units, e.g. 10MiB" in kernel.ok("%tw threshold 10MB").stdout


def test_off_and_unload_stop_the_reports(kernel: Kernel) -> None:
    kernel.ok("%tw off")
    assert kernel.ok(f"a = {FOUR_MIB}").reports == []
    assert kernel.ok(MODES).stdout == "[]\n"  # not recording while off
    kernel.ok("%tw on")
    assert "b 4.0 MiB" in kernel.ok(f"b = {FOUR_MIB}").report
    assert kernel.ok("%unload_ext torchwarden").reports == []
    assert kernel.ok(f"c = {FOUR_MIB}").reports == []
    assert kernel.ok(MODES).stdout == "[]\n"  # the recording mode left with the extension
    assert "`%tw` not found" in kernel.ok("%tw").stdout  # the magic is gone too


def test_a_wrong_command_says_how_to_write_it(kernel: Kernel) -> None:
    usage = kernel.ok("%tw relase").stdout
    assert usage.startswith("UsageError: %tw: cannot read 'relase'; usage: %tw | %tw release")


def test_without_recorded_sites_the_holder_is_still_named(kernel: Kernel) -> None:
    kernel.ok("%tw sites off")
    assert "outputs 4.0 MiB (not recorded)" in kernel.ok(f"outputs = {FOUR_MIB}").report
