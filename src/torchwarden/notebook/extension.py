"""``%load_ext torchwarden``: the cell hooks, the ``%tw`` magic, and what they print.

After each cell the extension shows what the kernel holds that it did not hold
before (one line; a table in Jupyter), and nothing when that is below the threshold.

    %tw                      what the kernel holds now, by holder
    %tw release [NAME ...]   drop names (default: Out and the saved traceback), measure
    %tw threshold 10MiB      report a cell only when it leaves at least this much held
    %tw sites on|off         record where tensors are made (a few µs per torch call)
    %tw on|off               report after each cell, or not
"""

from __future__ import annotations

from typing import Any

from torchwarden.errors import NotebookArgumentError
from torchwarden.lifecycle.holdings import Holding
from torchwarden.notebook.names import holder_label, site_text
from torchwarden.notebook.release import release
from torchwarden.notebook.table import (
    Group,
    group_holdings,
    held_bytes,
    html_table,
    summary_line,
    text_table,
)
from torchwarden.notebook.watch import CellWatch, Options
from torchwarden.units import format_bytes, parse_bytes

__all__ = ["NotebookExtension", "load_ipython_extension", "unload_ipython_extension"]

USAGE = (
    "usage: %tw | %tw release [NAME ...] | %tw threshold SIZE (e.g. 10MiB) | "
    "%tw sites on|off | %tw on|off"
)
_SWITCH = {"on": True, "off": False}


def _show(plain: str, rich: str | None = None) -> None:
    from IPython.display import display

    bundle = {"text/plain": plain} if rich is None else {"text/plain": plain, "text/html": rich}
    display(bundle, raw=True)  # type: ignore[no-untyped-call]


class NotebookExtension:
    """One shell's extension: its options, its per-cell watch, its ``%tw`` magic."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.options = Options()
        self.watch = CellWatch(shell, self.options)

    def groups(self, holds: list[Holding]) -> tuple[list[Group], int]:
        """Holdings by holder, and the bytes they pin together."""
        ns = self.shell.user_ns
        label = lambda h: holder_label(h, ns)  # noqa: E731
        return group_holdings(holds, label, lambda h: site_text(h.site)), held_bytes(holds)

    def pre_run_cell(self, info: Any = None) -> None:
        if self.options.enabled:
            self.watch.before_cell()

    def post_run_cell(self, result: Any = None) -> None:
        if not self.options.enabled:
            self.watch.discard()
            return
        groups, total = self.groups(self.watch.after_cell())
        if not groups or total < self.options.threshold:
            return
        count = getattr(result, "execution_count", None)
        cell = f"In[{count}]" if count is not None else "this cell"
        title = f"{cell} left {format_bytes(total)} newly held"
        _show(summary_line(title, groups), html_table(title, groups))

    def show_current(self) -> None:
        groups, total = self.groups(self.watch.current())
        title = f"this kernel holds {format_bytes(total)} of tensors (this process only)"
        _show(text_table(title, groups), html_table(title, groups))

    def command(self, line: str) -> None:
        """Run one ``%tw`` command line."""
        words = line.split()
        if not words:
            return self.show_current()
        verb, args = words[0], words[1:]
        if verb == "release":
            return _show(release(self.shell, args).line())
        if verb == "threshold" and len(args) == 1:
            size = parse_bytes(args[0])
            if size is None:
                raise NotebookArgumentError(
                    f"%tw threshold: {args[0]!r} is not a size; write it in IEC units, e.g. 10MiB"
                )
            self.options.threshold = size
            return _show(f"torchwarden: reporting cells that leave {format_bytes(size)} or more")
        if verb in _SWITCH and not args:
            self.options.enabled = _SWITCH[verb]
            return None
        if verb == "sites" and len(args) == 1 and args[0] in _SWITCH:
            self.options.sites = _SWITCH[args[0]]
            return None
        raise NotebookArgumentError(f"%tw: cannot read {line.strip()!r}; {USAGE}")

    def magic(self, line: str) -> None:
        from IPython.core.error import UsageError

        try:
            self.command(line)
        except NotebookArgumentError as e:
            raise UsageError(str(e)) from None

    def register(self) -> None:
        self.shell.events.register("pre_run_cell", self.pre_run_cell)
        self.shell.events.register("post_run_cell", self.post_run_cell)
        self.shell.register_magic_function(self.magic, magic_kind="line", magic_name="tw")

    def unregister(self) -> None:
        self.shell.events.unregister("pre_run_cell", self.pre_run_cell)
        self.shell.events.unregister("post_run_cell", self.post_run_cell)
        self.shell.magics_manager.magics["line"].pop("tw", None)
        self.watch.close()


_loaded: dict[int, NotebookExtension] = {}  # id(shell) -> its extension


def load_ipython_extension(ipython: Any) -> None:
    """Called by ``%load_ext torchwarden``; loading twice changes nothing."""
    if id(ipython) in _loaded:
        return
    ext = _loaded[id(ipython)] = NotebookExtension(ipython)
    ext.register()


def unload_ipython_extension(ipython: Any) -> None:
    """Called by ``%unload_ext torchwarden``."""
    ext = _loaded.pop(id(ipython), None)
    if ext is not None:
        ext.unregister()
