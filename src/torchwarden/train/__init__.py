"""Training that survives failure: atomic, verified checkpoints and exact resume.

See README.md beside this file for the mental model, and docs/training.md for the guide.
"""

from torchwarden.errors import CheckpointError as CheckpointError
from torchwarden.errors import ManifestError as ManifestError
from torchwarden.errors import NoCheckpointError as NoCheckpointError
from torchwarden.errors import TrainArgumentError as TrainArgumentError
from torchwarden.errors import TrainError as TrainError
from torchwarden.train.checkpointer import CheckpointConfig as CheckpointConfig
from torchwarden.train.checkpointer import Checkpointer as Checkpointer
from torchwarden.train.loading import Resumed as Resumed
from torchwarden.train.loading import verify_checkpoint as verify_checkpoint
from torchwarden.train.manifest import SCHEMA as SCHEMA
from torchwarden.train.manifest import FileRecord as FileRecord
from torchwarden.train.manifest import Manifest as Manifest
from torchwarden.train.manifest import read_manifest as read_manifest
from torchwarden.train.rng import GeneratorState as GeneratorState
from torchwarden.train.sampler import ResumableSampler as ResumableSampler
from torchwarden.train.signals import leave_promptly as leave_promptly
from torchwarden.train.state import CommHookState as CommHookState

__all__ = [
    "SCHEMA",
    "CheckpointConfig",
    "CheckpointError",
    "Checkpointer",
    "CommHookState",
    "FileRecord",
    "GeneratorState",
    "Manifest",
    "ManifestError",
    "NoCheckpointError",
    "ResumableSampler",
    "Resumed",
    "TrainArgumentError",
    "TrainError",
    "leave_promptly",
    "read_manifest",
    "verify_checkpoint",
]
