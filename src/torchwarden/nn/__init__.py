"""Governed building blocks for models. See README.md beside this file."""

from torchwarden.errors import NNArgumentError as NNArgumentError
from torchwarden.errors import NNError as NNError
from torchwarden.errors import SequenceTooLongError as SequenceTooLongError
from torchwarden.nn.positional import PositionalEncoding as PositionalEncoding

__all__ = ["NNArgumentError", "NNError", "PositionalEncoding", "SequenceTooLongError"]
