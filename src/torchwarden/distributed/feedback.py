"""Error feedback: what compression dropped this step is added back to the next step.

Without it a compressed gradient is a biased estimate and training stalls or diverges at
high compression; with it every coordinate's update is only delayed, never lost
(Seide et al. 2014; Karimireddy et al. 2019). The residuals are per rank and per
parameter, kept in float32 whatever the gradient's dtype.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from torchwarden.distributed.hook import BucketLayout, CommHook
from torchwarden.errors import CommHookStateError

__all__ = ["ErrorFeedbackHook"]


class ErrorFeedbackHook(CommHook):
    """A hook whose compression error is carried, per parameter, to the next step."""

    def __init__(self, process_group: Any = None) -> None:
        super().__init__(process_group)
        self.residuals: dict[str, Tensor] = {}

    def corrected(self, buffer: Tensor, layout: BucketLayout) -> Tensor:
        """This step's gradient plus the carried error, as a new float32 (N,) tensor."""
        acc = buffer.to(torch.float32, copy=True)
        if self.residuals:
            acc += layout.join(self.residuals, acc)
        return acc

    def carry(self, error: Tensor, layout: BucketLayout) -> None:
        """Keep ``error`` (N,), what this step's compression dropped, for the next step."""
        self.residuals.update(layout.split(error))

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["residuals"] = {n: t.detach().clone() for n, t in sorted(self.residuals.items())}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        residuals: dict[str, Tensor] = dict(state["residuals"])
        self.check_names(residuals, "residuals")
        sizes = self.numels()
        for name, t in residuals.items():
            if t.numel() != sizes[name]:
                raise CommHookStateError(
                    f"the saved residual of {name!r} has {t.numel()} elements but the parameter "
                    f"has {sizes[name]}; load it into the model it was saved from."
                )
        self.residuals = {n: t.to(torch.float32).flatten() for n, t in residuals.items()}
