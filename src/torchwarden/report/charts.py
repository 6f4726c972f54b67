"""The report's chart sections: memory over time per rank and device, and step times."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from html import escape
from typing import Any

from torchwarden.report.plots import Marker, Point, Series, line_chart
from torchwarden.report.tables import section
from torchwarden.units import format_seconds

__all__ = ["memory_section", "step_time_section"]

# (counter, legend, colour, dashed): colours from the Okabe-Ito palette, kept apart
# for colour-blind readers; the peak is dashed so it reads without colour too.
CUDA_LINES = (
    ("allocated", "allocated", "#0072B2", False),
    ("reserved", "reserved", "#E69F00", False),
    ("peak_allocated", "peak allocated", "#D55E00", True),
)
CPU_LINES = (
    ("rss", "process RSS", "#009E73", False),
    ("tensor_bytes", "CPU tensor bytes", "#CC79A7", False),
)
RANK_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")

NO_STEPS = (
    '<p class="empty">No steps were recorded: the script ended before its first step, '
    "or its loop does not report steps to torchwarden.</p>"
)


def memory_section(record: Mapping[str, Any]) -> str:
    """Charts per (rank, device): CUDA allocator counters; the CPU's RSS and tensor bytes apart.

    Each axis spans its own data, not zero to the peak, so a leak of a few MiB on a
    process of a few GiB shows as the slope it is.
    """
    timelines = _timelines(record["steps"])
    several_ranks = len({rank for rank, _ in timelines}) > 1
    charts = []
    for (rank, device), rows in sorted(timelines.items(), key=lambda kv: _order(kv[0])):
        title = f"{device} · rank {rank}" if several_ranks else device
        markers = _findings_at(record, rank, _step_times(record["steps"], rank))
        for caption, series in _memory_charts(device, rows):
            chart = line_chart(
                series,
                x_label="seconds since start",
                y_kind="bytes",
                label=f"{caption} of {title}",
                size=(530, 230),
                markers=markers,
                zero=False,
            )
            charts.append(
                f"<figure><figcaption>{escape(f'{title}: {caption}')}</figcaption>{chart}</figure>"
            )
    if not charts:
        return section("Memory", NO_STEPS)
    return section("Memory", f'<div class="pair">{"".join(charts)}</div>', "IEC units")


def step_time_section(record: Mapping[str, Any]) -> str:
    """Wall time of each step, one line per rank; step 1 (start-up) off the scale."""
    by_rank: dict[int, list[Point]] = defaultdict(list)
    for step in record["steps"]:
        if step["time_s"] is not None:
            by_rank[step["rank"]].append((step["step"], step["time_s"]))
    if not by_rank:
        return section("Step time", NO_STEPS)
    series = [
        Series(f"rank {rank}", points, RANK_COLOURS[i % len(RANK_COLOURS)])
        for i, (rank, points) in enumerate(sorted(by_rank.items()))
    ]
    steady = [t for points in by_rank.values() for step, t in points if step > 1]
    first = max((t for points in by_rank.values() for step, t in points if step == 1), default=None)
    cap = max(steady) if steady else None
    note = ""
    if first is not None and cap is not None and first > cap:
        note = f"step 1 (start-up) took {format_seconds(first)}: drawn at the top edge"
    markers = _findings_at(record, None, None) + _restarts_at(record)
    chart = line_chart(
        series, x_label="step", y_kind="seconds", label="step time", markers=markers, y_max=cap
    )
    return section("Step time", f"<figure>{chart}</figure>", note)


def _memory_charts(device: str, rows: list[tuple[float, Any]]) -> list[tuple[str, list[Series]]]:
    """A CUDA device's counters share a chart (one scale, one meaning); the CPU's do not."""
    series = _memory_series(device, rows)
    if device != "cpu":
        return [("allocator", series)]
    return [(s.name, [s]) for s in series if s.points]


def _memory_series(device: str, rows: list[tuple[float, Any]]) -> list[Series]:
    lines = CPU_LINES if device == "cpu" else CUDA_LINES
    return [
        Series(legend, [(t, c[key]) for t, c in rows if c.get(key) is not None], colour, dashed)
        for key, legend, colour, dashed in lines
    ]


def _restarts_at(record: Mapping[str, Any]) -> list[Marker]:
    """Where a torchrun attempt ended with a dead rank, at the step that rank had reached."""
    markers = []
    for attempt in record.get("attempts") or []:
        step, rank = attempt.get("step"), attempt.get("failed_rank")
        if isinstance(step, int) and isinstance(rank, int):
            how = attempt.get("how") or "died"
            markers.append(
                (float(step), f"restart · attempt {attempt['attempt']}: rank {rank} {how}")
            )
    return markers


def _findings_at(
    record: Mapping[str, Any], rank: int | None, x_of_step: dict[int, float] | None
) -> list[Marker]:
    """Where findings happened: at their step's time on ``rank``'s charts, or at the step."""
    markers = []
    for finding in record["findings"]:
        step, where = finding.get("step"), finding.get("rank")
        if step is None or (rank is not None and where not in (None, rank)):
            continue
        x = float(step) if x_of_step is None else x_of_step.get(step)
        if x is not None:
            markers.append((x, f"{finding['kind']} · step {step}"))
    return markers


def _step_times(steps: list[Mapping[str, Any]], rank: int) -> dict[int, float]:
    return {s["step"]: s["t"] for s in steps if s["rank"] == rank}


def _timelines(steps: list[Mapping[str, Any]]) -> dict[tuple[int, str], list[tuple[float, Any]]]:
    out: dict[tuple[int, str], list[tuple[float, Any]]] = defaultdict(list)
    for step in steps:
        for device, counters in step["memory"].items():
            out[step["rank"], device].append((step["t"], counters))
    return out


def _order(key: tuple[int, str]) -> tuple[int, int, int]:
    """Rank, then CUDA devices by index, then the CPU."""
    rank, device = key
    if device.startswith("cuda:") and device[5:].isdigit():
        return rank, 0, int(device[5:])
    return rank, 1, 0
