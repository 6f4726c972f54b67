"""Print the pip options that install the right build of torch on this machine.

Without an NVIDIA driver, PyTorch's CPU wheel index gives torch without the ~20 CUDA
wheels the default index resolves to (several GB a CPU cannot use): it becomes the
index, and the configured indexes stay as extra ones for everything else. When the CPU
index cannot be reached (an offline mirror, a firewall), a quick probe says so and
nothing is printed: pip uses the configured index, as before. With a driver, nothing
is printed either: the default torch wheel is the CUDA build, which is what a GPU needs.

Stdlib only: it runs before the virtual environment exists.
Usage: pip install $(python3 scripts/torch_index.py) torch==X
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import urllib.request

CPU_INDEX = os.environ.get("TORCH_CPU_INDEX", "https://download.pytorch.org/whl/cpu")
DEFAULT_INDEX = "https://pypi.org/simple"
PROBE_TIMEOUT_S = 5.0


def reachable(index: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether ``index`` answers for torch within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(f"{index.rstrip('/')}/torch/", timeout=timeout) as reply:
            return bool(reply.status == 200)
    except (OSError, ValueError):
        return False


def configured_indexes(python: str = sys.executable) -> list[str]:
    """The index and extra indexes pip is configured with (environment and files)."""
    index = os.environ.get("PIP_INDEX_URL")
    extras = os.environ.get("PIP_EXTRA_INDEX_URL", "").split()
    try:
        listing = subprocess.run(
            [python, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        listing = ""
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        words = value.strip().strip("'\"").split()
        if key.endswith(".index-url") and not key.endswith("extra-index-url") and index is None:
            index = words[0] if words else None
        elif key.endswith(".extra-index-url"):
            extras += [w for w in words if w not in extras]
    return [index or DEFAULT_INDEX, *extras]


def pip_options(has_gpu: bool, cpu_index_up: bool, indexes: list[str]) -> list[str]:
    if has_gpu or not cpu_index_up:
        return []
    options = ["--index-url", CPU_INDEX]
    for index in indexes:
        options += ["--extra-index-url", index]
    return options


def main() -> None:
    has_gpu = shutil.which("nvidia-smi") is not None
    up = not has_gpu and reachable(CPU_INDEX)
    if not has_gpu and not up:
        print(
            f"torch_index: {CPU_INDEX} cannot be reached; taking torch from the configured "
            "index (on a machine without a GPU, check that pip picks a CPU build).",
            file=sys.stderr,
        )
    print(shlex.join(pip_options(has_gpu, up, configured_indexes() if up else [])))


if __name__ == "__main__":
    main()
