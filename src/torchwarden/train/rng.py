"""Random-number state in a form ``torch.load(weights_only=True)`` accepts.

NumPy's states hold ndarrays and NumPy scalars, which safe loading refuses, so they
are stored as plain values: an ndarray becomes ``{"__ndarray__": uint8 tensor of its
bytes, "dtype": str, "shape": list}``, a NumPy scalar a Python number. Python's
``random`` state is a tuple of ints already. Torch CPU and every initialised CUDA
device's generator state are byte tensors. Everything here is per process (per rank).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from torchwarden.errors import CheckpointError

__all__ = ["capture_rng", "from_plain", "restore_rng", "to_plain"]

_ND = "__ndarray__"


def to_plain(value: Any) -> Any:
    """``value`` with ndarrays and NumPy scalars replaced by weights_only-safe values."""
    if isinstance(value, np.ndarray):
        data = torch.frombuffer(bytearray(value.tobytes()), dtype=torch.uint8)
        return {_ND: data, "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_plain(v) for v in value)
    return value


def from_plain(value: Any) -> Any:
    """The inverse of :func:`to_plain`."""
    if isinstance(value, dict):
        if _ND in value:
            raw = value[_ND].numpy().tobytes()
            return np.frombuffer(raw, dtype=np.dtype(value["dtype"])).reshape(value["shape"]).copy()
        return {k: from_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(from_plain(v) for v in value)
    return value


def capture_rng() -> dict[str, Any]:
    """This process's global generators: Python, NumPy (legacy), torch CPU, each CUDA device."""
    state: dict[str, Any] = {
        "python": to_plain(random.getstate()),
        "numpy": to_plain(np.random.get_state()),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        state["cuda"] = [s.clone() for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put back what :func:`capture_rng` captured (CUDA only where it was captured)."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    np.random.set_state(from_plain(state["numpy"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda:
        if not torch.cuda.is_available() or torch.cuda.device_count() < len(cuda):
            raise CheckpointError(
                f"the checkpoint holds RNG state of {len(cuda)} CUDA devices, this process sees "
                f"{torch.cuda.device_count() if torch.cuda.is_available() else 0}: resume on as many GPUs"
            )
        torch.cuda.set_rng_state_all(cuda)


class GeneratorState:
    """``state_dict``/``load_state_dict`` for a generator object that has none of its own.

    Wraps a NumPy ``Generator`` or ``RandomState``, a ``random.Random`` or a
    ``torch.Generator``, so any of them can be passed as a checkpoint extra.
    """

    def __init__(self, generator: Any) -> None:
        self.generator = generator

    def state_dict(self) -> dict[str, Any]:
        g = self.generator
        if isinstance(g, np.random.Generator):
            return {"numpy_bit_generator": to_plain(g.bit_generator.state)}
        if isinstance(g, np.random.RandomState):
            return {"numpy_random_state": to_plain(g.get_state())}
        if isinstance(g, torch.Generator):
            return {"torch": g.get_state()}
        return {"python": to_plain(g.getstate())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        g = self.generator
        if "numpy_bit_generator" in state:
            g.bit_generator.state = from_plain(state["numpy_bit_generator"])
        elif "numpy_random_state" in state:
            g.set_state(from_plain(state["numpy_random_state"]))
        elif "torch" in state:
            g.set_state(state["torch"])
        else:
            py = state["python"]
            g.setstate((py[0], tuple(py[1]), py[2]))

    @staticmethod
    def wraps(obj: Any) -> bool:
        kinds = (np.random.Generator, np.random.RandomState, random.Random, torch.Generator)
        return isinstance(obj, kinds)
