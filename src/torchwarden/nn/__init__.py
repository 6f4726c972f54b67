"""Governed building blocks for models. See README.md beside this file."""

from torchwarden.errors import CheckpointBudgetError as CheckpointBudgetError
from torchwarden.errors import NNArgumentError as NNArgumentError
from torchwarden.errors import NNError as NNError
from torchwarden.errors import SequenceTooLongError as SequenceTooLongError
from torchwarden.nn.act import ACTOutput as ACTOutput
from torchwarden.nn.act import AdaptiveComputationTime as AdaptiveComputationTime
from torchwarden.nn.activation_budget import BlockMemory as BlockMemory
from torchwarden.nn.activation_budget import CheckpointPlan as CheckpointPlan
from torchwarden.nn.activation_budget import measure_activations as measure_activations
from torchwarden.nn.activation_budget import plan_segments as plan_segments
from torchwarden.nn.checkpointing import CheckpointedSequential as CheckpointedSequential
from torchwarden.nn.gated import DepthOutput as DepthOutput
from torchwarden.nn.gated import GatedDepth as GatedDepth
from torchwarden.nn.positional import PositionalEncoding as PositionalEncoding
from torchwarden.nn.silu import SiLU as SiLU
from torchwarden.nn.silu import SiLUFunction as SiLUFunction
from torchwarden.nn.silu import silu as silu

__all__ = [
    "ACTOutput",
    "AdaptiveComputationTime",
    "BlockMemory",
    "CheckpointBudgetError",
    "CheckpointPlan",
    "CheckpointedSequential",
    "DepthOutput",
    "GatedDepth",
    "NNArgumentError",
    "NNError",
    "PositionalEncoding",
    "SequenceTooLongError",
    "SiLU",
    "SiLUFunction",
    "measure_activations",
    "plan_segments",
    "silu",
]
