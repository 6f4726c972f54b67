"""torchwarden.train's public surface: complete, and reachable from the top-level package."""

from __future__ import annotations

import types

import torchwarden
import torchwarden.train as train
from torchwarden.errors import CheckpointError, ManifestError, NoCheckpointError


def test_all_is_complete_and_resolves() -> None:
    public = {
        n
        for n, v in vars(train).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    assert public == set(train.__all__)
    assert torchwarden.train.Checkpointer is train.Checkpointer


def test_errors_are_in_the_tree() -> None:
    assert issubclass(ManifestError, CheckpointError)
    assert issubclass(NoCheckpointError, FileNotFoundError)
    assert train.CheckpointError is torchwarden.CheckpointError is CheckpointError
