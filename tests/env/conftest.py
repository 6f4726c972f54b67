"""Autouse isolation for the environment-layer tests; helpers live in ``env_helpers``."""

from __future__ import annotations

import os

import pytest

# variables the rules judge: a developer's shell must not change what the tests see
_JUDGED = ("CUDA_VISIBLE_DEVICES", "CUDA_LAUNCH_BLOCKING", "PYTORCH_NO_CUDA_MEMORY_CACHING")
_JUDGED_PREFIXES = ("NCCL_", "TORCH_", "TORCHDYNAMO_")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name in _JUDGED or name.startswith(_JUDGED_PREFIXES):
            monkeypatch.delenv(name)
