"""A fresh Jupyter kernel per test, with the extension loaded and every report shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.notebook.kernel import Kernel, running


@pytest.fixture(scope="session")
def spec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kernels")


@pytest.fixture
def kernel(spec_dir: Path) -> Iterator[Kernel]:
    with running(spec_dir, "import torch\n%load_ext torchwarden\n%tw threshold 0") as k:
        yield k
