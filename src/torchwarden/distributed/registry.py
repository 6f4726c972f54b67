"""One entry point: ``register(ddp_model, "topk", ratio=0.01)`` -> a Stateful hook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from torchwarden.distributed.dense import AllReduceHook, HalfPrecisionHook
from torchwarden.distributed.hook import CommHook
from torchwarden.distributed.int8 import Int8Hook
from torchwarden.distributed.powersgd import PowerSGDHook
from torchwarden.distributed.topk import TopKHook
from torchwarden.errors import CommHookError

__all__ = ["HOOKS", "register"]

HOOKS: dict[str, Callable[..., CommHook]] = {
    "allreduce": AllReduceHook,
    "bf16": lambda group, **o: HalfPrecisionHook(group, dtype="bf16", **o),
    "fp16": lambda group, **o: HalfPrecisionHook(group, dtype="fp16", **o),
    "int8": Int8Hook,
    "powersgd": PowerSGDHook,
    "topk": TopKHook,
}


def register(
    ddp_model: nn.parallel.DistributedDataParallel,
    kind: str,
    *,
    process_group: Any = None,
    **options: Any,
) -> CommHook:
    """Build the hook ``kind`` with ``options`` and register it on ``ddp_model``.

    Kinds: ``allreduce`` (DDP's default, counted), ``bf16``, ``fp16``, ``int8``,
    ``topk`` (``ratio=0.01``), ``powersgd`` (``PowerSGDState``'s keyword arguments;
    ``start_powerSGD_iter`` defaults to 2). Returns the hook: a Stateful object to put in
    the checkpoint, one per rank. Load its state after ``register`` and before the first
    backward of the resumed run.
    """
    factory = HOOKS.get(kind)
    if factory is None:
        raise CommHookError(f"unknown hook {kind!r}; choose one of {sorted(HOOKS)}.")
    if not isinstance(ddp_model, nn.parallel.DistributedDataParallel):
        raise CommHookError(
            f"register needs a DistributedDataParallel model, got {type(ddp_model).__name__}; "
            "wrap it first: DistributedDataParallel(model)."
        )
    try:
        hook = factory(process_group, **options)
    except TypeError as exc:
        raise CommHookError(f"hook {kind!r} does not take these options: {exc}") from None
    return hook.attach(ddp_model)
