"""Mixed precision in one call: scale → backward → unscale → clip → step → update.

The order matters and is easy to get wrong: gradients must be unscaled before they are
clipped (or the threshold is compared with scaled values), and a step whose gradients are
not finite must be skipped, not applied. ``MixedPrecision`` owns that sequence, the
autocast dtype choice (bf16 where the device supports it: no scaler needed, its exponent
range is float32's; fp16 with ``torch.amp.GradScaler`` otherwise), a count of skipped
steps, and the scaler's state for checkpoints.

It is a top-level module, not part of ``torchwarden.nn`` (it is not a layer) nor of the
training-state package (it must work in any plain loop, with no checkpointer around).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from torchwarden.errors import TrainArgumentError

__all__ = ["MixedPrecision", "StepOutcome", "autocast_dtype"]


def autocast_dtype(device_type: str) -> torch.dtype:
    """bf16 where ``device_type`` runs it natively (CPU, CUDA from Ampere), else fp16."""
    if device_type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


@dataclass(frozen=True)
class StepOutcome:
    skipped: bool  # the gradients were not finite: the optimizer did not step
    grad_norm: float  # total gradient norm after unscaling, before clipping
    scale: float  # the loss scale used for this step (1.0 without a scaler)


class MixedPrecision:
    """Autocast plus a loss-scaled, clipped, overflow-skipping optimizer step.

    Args:
        optimizer: the optimizer to step; its parameters are the ones clipped.
        device_type: ``"cuda"`` or ``"cpu"``, as for ``torch.autocast``.
        dtype: autocast dtype; ``None`` picks :func:`autocast_dtype`. A scaler runs only
            for float16.
        max_grad_norm: clip the total norm to this; ``None`` clips nothing.
        init_scale: the fp16 scaler's first loss scale.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        device_type: str = "cuda",
        dtype: torch.dtype | None = None,
        max_grad_norm: float | None = None,
        init_scale: float = 2.0**16,
    ) -> None:
        self.dtype = dtype or autocast_dtype(device_type)
        if self.dtype not in (torch.bfloat16, torch.float16):
            raise TrainArgumentError(
                f"dtype must be torch.bfloat16 or torch.float16, got {self.dtype}."
            )
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise TrainArgumentError(
                f"max_grad_norm must be positive or None, got {max_grad_norm}."
            )
        self.optimizer, self.device_type, self.max_grad_norm = optimizer, device_type, max_grad_norm
        scaled = self.dtype == torch.float16
        self.scaler = torch.amp.GradScaler(device_type, init_scale=init_scale, enabled=scaled)
        self.steps = 0
        self.skipped_steps = 0

    @contextmanager
    def autocast(self) -> Iterator[None]:
        """Run the forward pass (and the loss) inside this."""
        with torch.autocast(self.device_type, dtype=self.dtype):
            yield

    def params(self) -> list[Tensor]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def step(self, loss: Tensor) -> StepOutcome:
        """Backward ``loss`` and step the optimizer, or skip if a gradient is not finite.
        The gradients are zeroed afterwards either way."""
        scale = self.scaler.get_scale() if self.scaler.is_enabled() else 1.0
        self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
        self.scaler.unscale_(self.optimizer)  # before clipping: compare real gradients
        limit = self.max_grad_norm if self.max_grad_norm is not None else math.inf
        norm = float(torch.nn.utils.clip_grad_norm_(self.params(), limit))  # one sync per step
        if self.scaler.is_enabled():
            self.scaler.step(self.optimizer)  # skips by itself when it found inf/nan
            self.scaler.update()
            skipped = self.scaler.get_scale() < scale  # the scale backs off only on overflow
        else:
            skipped = not math.isfinite(norm)
            if not skipped:
                self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.steps += 1
        self.skipped_steps += int(skipped)
        return StepOutcome(skipped, norm, scale)

    def state_dict(self) -> dict[str, Any]:
        """The scaler's state and the counters; ``weights_only``-loadable."""
        return {
            "dtype": str(self.dtype).removeprefix("torch."),
            "scaler": self.scaler.state_dict(),
            "steps": self.steps,
            "skipped_steps": self.skipped_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state["dtype"]
        if saved != str(self.dtype).removeprefix("torch."):
            raise TrainArgumentError(
                f"this state was saved with autocast dtype {saved}, but this MixedPrecision "
                f"uses {self.dtype}; build it with dtype=torch.{saved} to resume."
            )
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.steps = int(state["steps"])
        self.skipped_steps = int(state["skipped_steps"])
