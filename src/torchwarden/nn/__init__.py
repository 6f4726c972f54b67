"""Governed building blocks for models."""

from torchwarden.nn.act import ACTOutput as ACTOutput
from torchwarden.nn.act import AdaptiveComputationTime as AdaptiveComputationTime
from torchwarden.nn.gated import DepthOutput as DepthOutput
from torchwarden.nn.gated import GatedDepth as GatedDepth
from torchwarden.nn.positional import PositionalEncoding as PositionalEncoding
from torchwarden.nn.silu import SiLU as SiLU
from torchwarden.nn.silu import SiLUFunction as SiLUFunction
from torchwarden.nn.silu import silu as silu

__all__ = [
    "ACTOutput",
    "AdaptiveComputationTime",
    "DepthOutput",
    "GatedDepth",
    "PositionalEncoding",
    "SiLU",
    "SiLUFunction",
    "silu",
]
