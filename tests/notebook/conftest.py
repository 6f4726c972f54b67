"""A fresh Jupyter kernel per test, with the extension loaded and every report shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.notebook.kernel import Kernel


@pytest.fixture(scope="session")
def spec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kernels")


@pytest.fixture
def kernel(spec_dir: Path) -> Iterator[Kernel]:
    k = Kernel(spec_dir)
    try:
        k.ok("import torch\n%load_ext torchwarden\n%tw threshold 0")
        yield k
    finally:
        k.close()
