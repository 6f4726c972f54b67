"""Human-readable sizes and durations, for every report torchwarden prints (a leaf module). Sizes use IEC units: 1 KiB = 1024 bytes, 1 GiB = 2**30.

IEC, not SI, because the CUDA allocator, ``nvidia-smi`` and ``torch.cuda`` all count in
powers of two; "80 GB" on an H100's box is 74.5 GiB here, as ``nvidia-smi`` shows it.
"""

from __future__ import annotations

__all__ = ["IEC_UNITS", "format_bytes", "format_seconds", "parse_bytes", "unit_for"]

IEC_UNITS: tuple[tuple[str, int], ...] = (
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
)


def unit_for(nbytes: float) -> tuple[str, int]:
    """The largest IEC unit in which ``nbytes`` is at least 1 (bytes for small values)."""
    chosen = IEC_UNITS[0]
    for unit in IEC_UNITS:
        if abs(nbytes) >= unit[1]:
            chosen = unit
    return chosen


def format_bytes(nbytes: float | None) -> str:
    """``1536 -> '1.5 KiB'``; ``None -> '—'`` (not measured)."""
    if nbytes is None:
        return "—"
    name, size = unit_for(nbytes)
    if size == 1:
        return f"{int(nbytes)} B"
    value = nbytes / size
    return f"{value:.1f} {name}" if abs(value) < 100 else f"{value:.0f} {name}"


def parse_bytes(text: str) -> int | None:
    """``'10MiB' -> 10485760``, ``'1.5 GiB'``, ``'512'`` (bytes); ``None`` when not a size.

    Only IEC units are read: ``'10MB'`` is refused rather than guessed at.
    """
    number = text.strip()
    factor = 1
    for name, size in sorted(IEC_UNITS, key=lambda u: -len(u[0])):
        if number.lower().endswith(name.lower()):
            number, factor = number[: -len(name)].strip(), size
            break
    try:
        value = float(number)
    except ValueError:
        return None
    return int(value * factor) if 0 <= value < float(1 << 60) else None


def format_seconds(seconds: float | None) -> str:
    """``0.0213 -> '21.3 ms'``, ``75 -> '1 min 15 s'``; ``None -> '—'``."""
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
