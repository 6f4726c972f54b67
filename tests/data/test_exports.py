"""The public surface of torchwarden.data is curated and complete."""

from __future__ import annotations

import subprocess
import sys

import torchwarden.data as data


def test_all_lists_every_public_name_and_only_those() -> None:
    public = {n for n in vars(data) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(data, n)).__name__ == "module"}
    assert set(data.__all__) == public - modules
    assert data.__all__ == sorted(data.__all__)


def test_lazy_attribute_on_the_package() -> None:
    import torchwarden

    assert torchwarden.data is data


def test_importing_data_does_not_initialise_cuda() -> None:
    code = "import torch, torchwarden.data; print(torch.cuda.is_initialized())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
