"""The report's chart sections: memory over time per rank and device, and step times."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from html import escape
from typing import Any

from torchwarden.report.plots import Marker, Point, Series, line_chart
from torchwarden.report.tables import section

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
    """One chart per (rank, device): CUDA allocator counters, or the CPU's RSS and tensors."""
    timelines = _timelines(record["steps"])
    several_ranks = len({rank for rank, _ in timelines}) > 1
    per_rank = Counter(rank for rank, _ in timelines)
    charts = []
    for (rank, device), rows in sorted(timelines.items(), key=lambda kv: _order(kv[0])):
        title = f"{device} · rank {rank}" if several_ranks else device
        # charts pair up, two to a row; a rank with one device gets the whole row
        wide = per_rank[rank] == 1
        chart = line_chart(
            _memory_series(device, rows),
            x_label="seconds since start",
            y_kind="bytes",
            label=f"memory of {title}",
            size=(1080, 240) if wide else (530, 230),
            markers=_findings_at(record, rank, _step_times(record["steps"], rank)),
        )
        css = ' class="wide"' if wide else ""
        charts.append(f"<figure{css}><figcaption>{escape(title)}</figcaption>{chart}</figure>")
    if not charts:
        return section("Memory", NO_STEPS)
    return section("Memory", f'<div class="pair">{"".join(charts)}</div>', "IEC units")


def step_time_section(record: Mapping[str, Any]) -> str:
    """Wall time of each step, one line per rank."""
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
    markers = _findings_at(record, None, None)
    chart = line_chart(series, x_label="step", y_kind="seconds", label="step time", markers=markers)
    return section("Step time", f"<figure>{chart}</figure>")


def _memory_series(device: str, rows: list[tuple[float, Any]]) -> list[Series]:
    lines = CPU_LINES if device == "cpu" else CUDA_LINES
    return [
        Series(legend, [(t, c[key]) for t, c in rows if c.get(key) is not None], colour, dashed)
        for key, legend, colour, dashed in lines
    ]


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
