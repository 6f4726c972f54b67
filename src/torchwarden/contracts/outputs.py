"""A base for models' structured outputs: a dataclass that is also a pytree.

::

    class EncoderOutput(ModelOutput):
        logits: Float[Tensor, "batch classes"]
        loss: Float[Tensor, ""] | None = None

A subclass becomes a dataclass and a registered pytree node, so ``torch.compile``
traces through it, ``torch.export`` flattens and rebuilds it, DDP finds the tensors
that need gradients in it, and ``@contract`` checks its fields by their annotations.
Its fields are a call's results: :func:`~torchwarden.contracts.tensors_of` lists them
for the tensor-lifecycle side, which must not count them as leaks.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch.utils._pytree as pytree
from typing_extensions import dataclass_transform

__all__ = ["ModelOutput"]


@dataclass_transform()
class ModelOutput:
    """Subclass it and annotate fields; it is made a dataclass and a pytree node."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__dataclass_fields__" not in cls.__dict__:
            dataclasses.dataclass(cls)
        # The qualified name lets torch.export serialise programs that return it.
        pytree.register_dataclass(cls, serialized_type_name=f"{cls.__module__}.{cls.__qualname__}")
