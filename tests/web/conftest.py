"""A real ``torchwarden serve`` process per test, and a real Chromium driven by Playwright."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.web.runs import real_run

CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None
)
URL = re.compile(r"torchwarden serve: (http://\S+)")


@dataclass
class Server:
    url: str  # as printed: with ?token=... when one is required
    base: str
    index: Path
    lease_dir: Path
    proc: subprocess.Popen[str]


def start_serve(
    index: Path, lease_dir: Path, *args: str, env: dict[str, str] | None = None
) -> Server:
    command = [sys.executable, "-m", "torchwarden", "serve", "--port", "0", "--index", str(index)]
    proc = subprocess.Popen(
        [*command, "--lease-dir", str(lease_dir), *args],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stderr.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout=60)
    found = URL.search(line[0]) if line else None
    if found is None:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"serve did not start: {line}")
    url = found.group(1)
    return Server(url, url.split("?")[0].rstrip("/"), index, lease_dir, proc)


def stop(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.communicate()


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "index", tmp_path / "leases"


@pytest.fixture
def server(dirs: tuple[Path, Path]) -> Iterator[Server]:
    running = start_serve(*dirs)
    yield running
    stop(running)


@pytest.fixture(scope="session")
def real_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """run.json, report.html and a real leak finding from `torchwarden run` (once per session)."""
    return real_run(tmp_path_factory.mktemp("real"))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip(
            "Chromium is not installed (apt-get install -y chromium); browser tests skipped"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright); browser tests skipped")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that fails the test on any alert() and records console errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.console_errors = []
    page.dialogs = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()
    assert page.dialogs == [], f"a script from run data ran: {page.dialogs}"
