"""Governed building blocks for models."""

from torchwarden.nn.positional import PositionalEncoding as PositionalEncoding

__all__ = ["PositionalEncoding"]
