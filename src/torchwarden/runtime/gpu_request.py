"""What ``--gpus`` asks for: a count of any free GPUs, or exact physical indices."""

from __future__ import annotations

from dataclasses import dataclass

from torchwarden.errors import LeaseError

__all__ = ["GpuRequest", "parse_gpu_request"]


@dataclass(frozen=True)
class GpuRequest:
    """What ``--gpus`` asked for: ``count`` GPUs, either any free ones or exactly ``indices``."""

    count: int
    indices: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.count < 1:
            raise LeaseError(f"GpuRequest(count={self.count}): ask for at least one GPU.")
        if self.indices is not None and len(self.indices) != self.count:
            raise LeaseError(f"GpuRequest: count={self.count} but indices={self.indices}.")

    @property
    def spec(self) -> str:
        """The request as ``--gpus`` spells it: ``"2"`` (any two), ``"0,2"``, ``"3,"``."""
        if self.indices is None:
            return str(self.count)
        return ",".join(map(str, self.indices)) + ("," if self.count == 1 else "")


def parse_gpu_request(spec: str) -> GpuRequest:
    """Parse ``--gpus``: ``"2"`` is any two free GPUs; ``"0,2"`` (or ``"3,"``) exactly those.

    A lone number is a count, as in ``torchrun --nproc-per-node``; a trailing comma
    makes it an index (the convention PyTorch Lightning's ``devices="3,"`` uses).
    """
    text = spec.strip()
    usage = "pass a count (--gpus 2) or comma-separated indices (--gpus 0,2; --gpus 3, for GPU 3)."
    if not text:
        raise LeaseError(f"gpus={spec!r}: empty; {usage}")
    if "," not in text:
        count = _non_negative(text, spec, usage, what="a GPU count")
        if count == 0:
            raise LeaseError(
                f"gpus={spec!r}: asks for no GPU; leave --gpus out to run without a lease."
            )
        return GpuRequest(count=count)
    parts = [p.strip() for p in text.split(",")]
    if parts[-1] == "":
        parts.pop()  # the trailing comma of "3,"
    indices = [_non_negative(p, spec, usage, what="a GPU index") for p in parts]
    dupes = sorted({i for i in indices if indices.count(i) > 1})
    if dupes:
        raise LeaseError(f"gpus={spec!r}: GPU {dupes[0]} is listed twice; list each index once.")
    return GpuRequest(count=len(indices), indices=tuple(sorted(indices)))


def _non_negative(part: str, spec: str, usage: str, *, what: str) -> int:
    if not (part.isascii() and part.isdigit()) or len(part) > 6:
        raise LeaseError(f"gpus={spec!r}: {part!r} is not {what}; {usage}")
    return int(part)
