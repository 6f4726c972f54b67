"""``torchwarden demo``: a one-minute tour of tensor-lifecycle reports."""

from __future__ import annotations

import click


@click.command()
def demo() -> None:
    """Run a loop with a planted leak and the same loop fixed; show both scope reports."""
    import importlib.util
    import runpy
    from pathlib import Path

    from rich.console import Console
    from rich.syntax import Syntax

    console = Console()
    spec = importlib.util.find_spec("torchwarden.examples.leaky_loop")
    assert spec is not None and spec.origin is not None
    text = Path(spec.origin).read_text(encoding="utf-8")
    source = text.split("\n\n", 2)[-1].split("\nif __name__")[0]
    console.rule("torchwarden demo: torchwarden/examples/leaky_loop.py")
    console.print(Syntax(source, "python", theme="ansi_dark", line_numbers=False))
    module = runpy.run_module(
        "torchwarden.examples.leaky_loop", run_name="__main__", alter_sys=True
    )
    for name in ("leaking", "fixed"):
        console.rule(name)
        console.print(module[name].report.render(width=console.width), highlight=False)
    console.print("\nNext: `torchwarden run your_script.py` governs a whole script, unchanged.")
