"""``GPUResidentLoader``: copy the dataset to the device once, then shuffle and batch there.

Shapes: every field is ``(N, ...)`` with the same N; a batch is ``(B, ...)`` with
B = batch_size (the last one may be smaller unless ``drop_last``).
Units: bytes, printed in IEC units by :mod:`torchwarden.units`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from torchwarden.data.interop import to_torch
from torchwarden.data.reasons import resolve_device
from torchwarden.errors import DataArgumentError, DataError, DoesNotFitError
from torchwarden.units import format_bytes

__all__ = ["GPUResidentLoader", "check_fits"]


def check_fits(nbytes: int, free: int, total: int, headroom: float, where: str) -> None:
    """Raise DoesNotFitError unless ``nbytes`` fit in ``free`` memory, keeping ``headroom``
    (a share of ``total``) free for the model, activations and the allocator."""
    keep = int(headroom * total)
    if nbytes + keep <= free:
        return
    raise DoesNotFitError(
        f"the dataset needs {format_bytes(nbytes)} on {where}, but only {format_bytes(free)} of "
        f"{format_bytes(total)} is free and headroom={headroom:g} keeps {format_bytes(keep)} for "
        "the model. Fix: stream it instead (DevicePrefetcher(DataLoader(...), device)), store "
        "it smaller (e.g. uint8 or bf16 and convert per batch), or lower headroom if the model "
        "is small."
    )


def _free_and_total(device: torch.device) -> tuple[int, int]:
    free, total = torch.cuda.mem_get_info(device)
    return int(free), int(total)


class GPUResidentLoader:
    """Batches of a dataset that lives on ``device``: no host work, no copies per step.

    ``data`` is one array/tensor, a sequence of them, or a mapping name -> array; batches
    have the same structure. With ``shuffle``, epoch e uses the permutation drawn on the
    device from ``seed`` and e, so runs with the same seed see the same batches.
    """

    def __init__(
        self,
        data: Any,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        device: torch.device | str | int | None = None,
        headroom: float = 0.1,
    ) -> None:
        if batch_size < 1 or not 0.0 <= headroom < 1.0:
            raise DataArgumentError(
                f"GPUResidentLoader(batch_size={batch_size}, headroom={headroom}): "
                "batch_size must be >= 1 and headroom a share of device memory in [0, 1)."
            )
        dev = resolve_device(device) or torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.device, self.batch_size, self.shuffle = dev, batch_size, shuffle
        self.drop_last, self.seed, self.epoch = drop_last, seed, 0
        names, arrays = _fields(data)
        self.n = _length(arrays)
        if dev.type == "cuda":
            nbytes = sum(int(a.nbytes) for a in arrays)
            check_fits(nbytes, *_free_and_total(dev), headroom, str(dev))
        self._names, self._structure = names, data
        self.fields = [to_torch(a, dev) for a in arrays]

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose permutation the next iteration uses."""
        self.epoch = epoch

    def _order(self) -> torch.Tensor | None:
        if not self.shuffle:
            return None
        g = torch.Generator(device=self.device)
        g.manual_seed(hash((self.seed, self.epoch)) & (2**63 - 1))
        return torch.randperm(self.n, generator=g, device=self.device)

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        self.epoch += 1
        for b in range(len(self)):
            start, stop = b * self.batch_size, min(self.n, (b + 1) * self.batch_size)
            if order is None:
                batch = [f[start:stop] for f in self.fields]  # views: no copy
            else:
                index = order[start:stop]
                batch = [f.index_select(0, index) for f in self.fields]
            yield self._pack(batch)

    def _pack(self, batch: list[torch.Tensor]) -> Any:
        if self._names is not None:
            return dict(zip(self._names, batch))
        if isinstance(self._structure, (list, tuple)):
            return type(self._structure)(batch) if type(self._structure) in (list, tuple) else batch
        return batch[0]


def _fields(data: Any) -> tuple[list[str] | None, list[Any]]:
    if isinstance(data, Mapping):
        return list(data), list(data.values())
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)) and _is_arrays(data):
        return None, list(data)
    return None, [data if hasattr(data, "shape") else np.asarray(data)]


def _is_arrays(data: Sequence[Any]) -> bool:
    return len(data) > 0 and all(hasattr(a, "shape") and hasattr(a, "nbytes") for a in data)


def _length(arrays: list[Any]) -> int:
    lengths = {int(a.shape[0]) if len(a.shape) else -1 for a in arrays}
    if len(lengths) != 1 or -1 in lengths:
        shapes = [tuple(a.shape) for a in arrays]
        raise DataError(
            f"GPUResidentLoader: every field needs the same first dimension N, got shapes {shapes}. "
            "Fix: pass arrays of shape (N, ...) with one N."
        )
    return lengths.pop()
