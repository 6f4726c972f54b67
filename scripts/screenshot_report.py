"""Screenshot a report.html in headless Chromium, to check how a report looks.

    python scripts/screenshot_report.py runs/example/report.html report.png [--width 1280 --height 2000]

Chromium runs with networking features off and a throw-away profile, so the
screenshot also shows that the report needs nothing from the network.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit(
        "No Chromium found. Install it (Debian/Ubuntu: apt-get install -y chromium), "
        "or put chromium on PATH."
    )


def screenshot(report: Path, png: Path, *, width: int = 1280, height: int = 2000) -> Path:
    """Render ``report`` into ``png`` at ``width`` x ``height`` CSS pixels; return ``png``."""
    with tempfile.TemporaryDirectory(prefix="tw-chromium-") as profile:
        command = [
            find_chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={png.resolve()}",
            f"--window-size={width},{height}",
            report.resolve().as_uri(),
        ]
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    if not png.exists():
        raise SystemExit(f"Chromium ran but wrote no screenshot to {png}.")
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2000)
    args = parser.parse_args(argv)
    print(screenshot(args.report, args.png, width=args.width, height=args.height))
    return 0


if __name__ == "__main__":
    sys.exit(main())
