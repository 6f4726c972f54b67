"""Line charts as inline SVG, drawn in Python so the report needs no script or library.

A chart is a ``viewBox`` that scales with the page; its legend is HTML beside it so
that text wraps and stays selectable. Long series are thinned to the minimum and
maximum of each pixel column, so spikes (a leak's jump, an OOM's peak) survive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

from torchwarden.units import unit_for

__all__ = ["Series", "line_chart"]

Point = tuple[float, float]
Marker = tuple[float, str]  # x, and a short label drawn at the top of a vertical rule
YKind = Literal["bytes", "seconds"]

LEFT, RIGHT, TOP, BOTTOM = 64, 12, 24, 40


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[Point]
    color: str
    dashed: bool = False


def line_chart(
    series: Sequence[Series],
    *,
    x_label: str,
    y_kind: YKind,
    label: str,
    size: tuple[int, int] = (1080, 240),
    markers: Sequence[Marker] = (),
    zero: bool = True,
    y_max: float | None = None,
) -> str:
    """An SVG chart with one polyline per series, an HTML legend, and optional markers.

    ``size`` is the ``viewBox`` in CSS pixels at which the text reads at its set size;
    draw a chart at the width it will be shown. ``zero=False`` spans the axis over the
    data only, so that a small change on a large value shows; ``y_max`` caps the axis
    (points above it are drawn at the top edge), so one outlier does not flatten the rest.
    """
    drawn = [s for s in series if s.points]
    if not drawn:
        return '<p class="empty">Nothing was measured for this chart.</p>'
    xs = [x for s in drawn for x, _ in s.points]
    ys = [y for s in drawn for _, y in s.points]
    x_ticks = _nice_ticks(min(xs), max(xs))
    top = max(ys) if y_max is None else min(max(ys), y_max)
    y_ticks, y_format = _y_axis(min(0.0, min(ys)) if zero else min(ys), top, y_kind)
    frame = _Frame(x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1], *size)
    width, height = size
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}">',
        *_grid(frame, x_ticks, y_ticks, y_format),
        f'<text class="axis-label" x="{(LEFT + width - RIGHT) / 2}" y="{height - 4}" '
        f'text-anchor="middle">{escape(x_label)}</text>',
        *(_marker(frame, x, text) for x, text in markers if frame.x0 <= x <= frame.x1),
        *(_polyline(frame, s) for s in drawn),
        "</svg>",
    ]
    return _legend(drawn) + "".join(parts)


@dataclass(frozen=True)
class _Frame:
    x0: float
    x1: float
    y0: float
    y1: float
    width: int
    height: int

    def px(self, x: float) -> float:
        span = self.x1 - self.x0 or 1.0
        return LEFT + (x - self.x0) / span * (self.width - LEFT - RIGHT)

    def py(self, y: float) -> float:
        span = self.y1 - self.y0 or 1.0
        y = min(max(y, self.y0), self.y1)  # clipped to the frame: an outlier sits on its edge
        return self.height - BOTTOM - (y - self.y0) / span * (self.height - TOP - BOTTOM)


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) covering ``lo..hi``."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    ticks = [start]
    while ticks[-1] < hi - 1e-9 * step:
        ticks.append(start + len(ticks) * step)
    return ticks


def _y_axis(lo: float, hi: float, kind: YKind) -> tuple[list[float], str]:
    """Ticks in bytes (placed at round numbers of one IEC unit) or seconds, and their unit."""
    if kind == "seconds":
        unit_name, size = ("ms", 1e-3) if hi < 1 else ("s", 1.0)
    else:
        unit_name, size = unit_for(hi)
    ticks = [t * size for t in _nice_ticks(lo / size, hi / size)]
    return ticks, f"{unit_name}:{size}"


def _tick_text(value: float, y_format: str) -> str:
    unit, size = y_format.split(":")
    scaled = value / float(size)
    text = f"{scaled:.0f}" if float(scaled).is_integer() else f"{scaled:.3g}"
    return f"{text} {unit}"


def _grid(frame: _Frame, x_ticks: list[float], y_ticks: list[float], y_format: str) -> list[str]:
    out = []
    right = frame.width - RIGHT
    for y in y_ticks:
        py = frame.py(y)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{right}" y1="{py:.1f}" y2="{py:.1f}"/>')
        out.append(
            f'<text class="tick" x="{LEFT - 8}" y="{py + 4:.1f}" text-anchor="end">'
            f"{escape(_tick_text(y, y_format))}</text>"
        )
    for x in x_ticks:
        px = frame.px(x)
        out.append(
            f'<text class="tick" x="{px:.1f}" y="{frame.height - BOTTOM + 16}" text-anchor="middle">'
            f"{x:g}</text>"
        )
    base = frame.py(y_ticks[0])
    out.append(f'<line class="axis" x1="{LEFT}" x2="{right}" y1="{base:.1f}" y2="{base:.1f}"/>')
    return out


def _marker(frame: _Frame, x: float, text: str) -> str:
    px, top, bottom = frame.px(x), TOP - 14, frame.height - BOTTOM
    # near the right edge the label goes to the left of its rule, so it is not cut off
    right = px > frame.width - 130
    anchor, tx = ("end", px - 4) if right else ("start", px + 4)
    return (
        f'<line class="marker" x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{bottom}"/>'
        f'<text class="marker-label" x="{tx:.1f}" y="{top + 7}" text-anchor="{anchor}">'
        f"{escape(text)}</text>"
    )


def _polyline(frame: _Frame, series: Series) -> str:
    # min and max per pixel column
    points = _thin(sorted(series.points), 2 * (frame.width - LEFT - RIGHT))
    if len(points) == 1:  # a polyline of one point draws nothing; show a dot
        x, y = points[0]
        return (
            f'<circle cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="3" fill="{series.color}"/>'
        )
    coords = " ".join(f"{frame.px(x):.1f},{frame.py(y):.1f}" for x, y in points)
    dash = ' stroke-dasharray="6 4"' if series.dashed else ""
    return (
        f'<polyline fill="none" stroke="{series.color}" stroke-width="1.8"{dash} '
        f'points="{coords}"><title>{escape(series.name)}</title></polyline>'
    )


def _thin(points: list[Point], limit: int) -> list[Point]:
    """At most ``limit`` points: each bucket keeps its lowest and highest, in x order."""
    if len(points) <= limit:
        return points
    size = math.ceil(len(points) / (limit // 2))
    out: list[Point] = []
    for start in range(0, len(points), size):
        bucket = points[start : start + size]
        low, high = min(bucket, key=lambda p: p[1]), max(bucket, key=lambda p: p[1])
        out.extend(sorted({low, high}))
    return out


def _legend(series: Sequence[Series]) -> str:
    items = "".join(
        f'<li><span class="swatch{" dashed" if s.dashed else ""}" '
        f'style="--c:{s.color}"></span>{escape(s.name)}</li>'
        for s in series
    )
    return f'<ul class="legend">{items}</ul>'
