"""Screenshots of `torchwarden serve`'s three pages, for docs/serve.md.

    python scripts/serve_screenshots.py docs/ [--gpus-json docs/serve/h200-listing.json]
        [--root /srv/runs]

Builds a small machine's worth of real runs in a temporary index (a live run training
a real torch model, with the leak finding a real `torchwarden run` reported; a finished
one; a failed one; one waiting for a GPU; one whose process was killed), takes a GPU
lease, serves them, and photographs each page in headless Chromium. ``--gpus-json``
replays a GPU listing recorded with ``list_gpus().to_dict()`` on a GPU machine, for a
machine page with a GPU on it when taken on a machine without one. ``--root`` puts the
runs in a fresh directory of that name (removed afterwards) instead of a temporary one,
so the pages show a path a reader would use; the host name shown is the machine's (for
the committed pictures: ``unshare --uts sh -c 'hostname gpu-server && python ...'``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import uvicorn
from playwright.sync_api import sync_playwright
from tests.web.runs import StreamedRun, leak_finding, real_run

from torchwarden.runtime.gpus import Gpu, GpuListing, GpuProcess, list_gpus
from torchwarden.runtime.index import RunInfo, register
from torchwarden.runtime.lease import acquire, parse_gpu_request
from torchwarden.web import ServeConfig, create_app


def replayed(path: Path) -> GpuListing:
    data = json.loads(path.read_text())
    gpus = tuple(
        Gpu(**{**g, "processes": tuple(GpuProcess(**p) for p in g["processes"] or ())})
        for g in data["gpus"]
    )
    return GpuListing(data["source"], gpus, data["driver"], tuple(data["problems"]))


def populate(root: Path, index: Path) -> tuple[StreamedRun, subprocess.Popen[bytes]]:
    real = real_run(root / ".real")
    live = StreamedRun(root / "gpt-small", index, name="gpt-small", gpus=(0,))
    for name in ("run.json", "report.html"):
        shutil.copy(real / name, live.out_dir / name)
    done = StreamedRun(root / "finetune", index, name="finetune")
    done.train(40)
    done.end("ok", 0)
    failed = StreamedRun(root / "eval", index, name="eval")
    failed.train(12)
    failed.finding({"kind": "exception", "severity": "error", "step": 12, "rank": 0,
                    "message": "ValueError: expected 3 channels, got 4 (eval.py:88)",
                    "fix": "Convert RGBA images to RGB in the dataset's transform."})  # fmt: skip
    failed.end("failed", 1)
    queued = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    StreamedRun(root / "sweep", index, name="sweep-lr3e-4", status="waiting",
                asked="1", pid=queued.pid)  # fmt: skip
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    register(RunInfo("old-job", "python old.py", root / "old", pid=child.pid), index_dir=index)
    child.kill()
    child.wait()
    live.train(80)
    live.finding(leak_finding(real))
    live.train(40)
    return live, queued


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--gpus-json", type=Path)
    parser.add_argument("--root", type=Path, help="a directory to create for the runs")
    args = parser.parse_args()
    if args.root is not None:
        args.root.mkdir(parents=True)  # fresh: it is removed afterwards
    with contextlib.ExitStack() as stack:
        if args.root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tw-shots-")))
        else:
            root = args.root.resolve()
            stack.callback(shutil.rmtree, root)
        state = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tw-state-")))
        live, queued = populate(root, state / "index")
        gpus = (lambda: replayed(args.gpus_json)) if args.gpus_json else list_gpus
        config = ServeConfig(index_dir=state / "index", lease_dir=state / "leases", list_gpus=gpus)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
        lease = acquire(parse_gpu_request("1"), available=[0], lease_dir=state / "leases",
                        command="python train_gpt.py --lr 3e-4")  # fmt: skip
        thread.start()
        try:
            time.sleep(1)
            shoot(f"http://127.0.0.1:{port}", live.handle.id, args.out)
        finally:
            lease.release()
            server.should_exit = True
            thread.join(timeout=10)
            live.end("ok", 0)
            queued.kill()
            queued.wait()


def shoot(base: str, run_id: str, out: Path) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        for path, name in (("/", "machine"), ("/runs", "runs"), (f"/runs/{run_id}", "run")):
            page.goto(base + path)
            page.locator("body[data-updates]").wait_for(state="attached", timeout=15_000)
            time.sleep(0.5)
            page.screenshot(path=str(out / f"serve-{name}.png"), full_page=True)
            print(f"wrote {out / f'serve-{name}.png'}")
        browser.close()


if __name__ == "__main__":
    main()
