"""Shared test set-up: a clean environment for every test, and pytester for plugin tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = ["pytester"]

# Variables that change torchwarden's or torch's behaviour; tests set what they need.
_CLEARED_PREFIXES = ("TORCHWARDEN_", "PYTORCH_CUDA_ALLOC_CONF", "TORCH_LOGS")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(_CLEARED_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    yield
