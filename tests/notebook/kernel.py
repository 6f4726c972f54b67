"""A real Jupyter kernel for tests: this interpreter, so it imports this checkout's torchwarden."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

KERNEL_NAME = "torchwarden-test"
TIMEOUT_S = 120


def kernel_manager(spec_dir: Path) -> KernelManager:
    """A manager for a kernel spec written under ``spec_dir`` that runs ``sys.executable``."""
    kernel_dir = spec_dir / KERNEL_NAME
    kernel_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "torchwarden tests",
        "language": "python",
    }
    (kernel_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(spec_dir)], ensure_native_kernel=False)
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)


@dataclass
class Cell:
    """What one executed cell produced."""

    stdout: str = ""
    displays: list[dict[str, Any]] = field(default_factory=list)
    result: str | None = None
    error: str | None = None  # "Name: message"

    @property
    def reports(self) -> list[str]:
        """torchwarden's lines (text/plain) among the display outputs."""
        texts = [d.get("text/plain", "") for d in self.displays]
        return [t for t in texts if t.startswith("torchwarden:")]

    @property
    def report(self) -> str:
        assert len(self.reports) == 1, self
        return self.reports[0]


class Kernel:
    """Runs cells one at a time in a fresh kernel and records their outputs."""

    def __init__(self, spec_dir: Path) -> None:
        self.manager = kernel_manager(spec_dir)
        self.manager.start_kernel()
        self.client: BlockingKernelClient = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=TIMEOUT_S)

    def run(self, code: str) -> Cell:
        cell = Cell()

        def hook(msg: dict[str, Any]) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                cell.stdout += content["text"]
            elif kind == "display_data":
                cell.displays.append(content["data"])
            elif kind == "execute_result":
                cell.result = content["data"].get("text/plain")
            elif kind == "error":
                cell.error = f"{content['ename']}: {content['evalue']}"

        self.client.execute_interactive(code, output_hook=hook, timeout=TIMEOUT_S)
        return cell

    def ok(self, code: str) -> Cell:
        """Run a cell that must not fail."""
        cell = self.run(code)
        assert cell.error is None, cell.error
        return cell

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@contextmanager
def running(spec_dir: Path, setup: str) -> Iterator[Kernel]:
    """A fresh kernel that has run ``setup``; shut down on exit."""
    k = Kernel(spec_dir)
    try:
        k.ok(setup)
        yield k
    finally:
        k.close()
