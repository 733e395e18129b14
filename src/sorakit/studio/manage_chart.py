"""Stacked bar charts drawn on the server as inline SVG: the geometry, for a template to draw.

No chart library reaches the browser: each day is a column of bars, one per key, each with a
`<title>` a person reads on hover and a screen reader reads aloud.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 12, 28
"""The plot's margins: room for the scale on the left and the days below."""
PALETTE = (
    "#3557d4",
    "#d9822b",
    "#2e9e6b",
    "#b3261e",
    "#8a4fd1",
    "#1f8fa3",
    "#c2a000",
    "#6b7280",
)
"""One colour per key, in the order the legend lists them."""


@dataclass(frozen=True)
class Bar:
    """One key's part of one day, in SVG units."""

    x: float
    y: float
    width: float
    height: float
    color: str
    label: str


@dataclass(frozen=True)
class Tick:
    """A label on an axis at a position (x for days, y for the scale)."""

    at: float
    text: str


@dataclass(frozen=True)
class Chart:
    """A chart ready to draw."""

    title: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    days: tuple[Tick, ...]
    scale: tuple[Tick, ...]
    legend: tuple[tuple[str, str], ...]
    """(series, colour) in drawing order."""
    baseline: float
    plot_left: int
    plot_right: int

    @property
    def empty(self) -> bool:
        return not self.bars


def colors(series: Sequence[str]) -> dict[str, str]:
    """A stable colour per series (the same key has the same colour in every chart)."""
    return {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(series)}


def stacked_bars(
    title: str,
    days: Sequence[str],
    values: Mapping[str, Mapping[str, float]],
    palette: Mapping[str, str],
    text: Callable[[float], str],
) -> Chart:
    """Bars per day stacked by series: `values[series][day]`; `text` writes a value."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    totals = [sum(v.get(day, 0.0) for v in values.values()) for day in days]
    top = max(totals, default=0.0)
    slot = plot_width / max(len(days), 1)
    width = max(slot * 0.7, 1.0)
    bars = []
    for index, day in enumerate(days):
        x = LEFT + index * slot + (slot - width) / 2
        y = float(TOP + plot_height)
        for series, by_day in values.items():
            value = by_day.get(day, 0.0)
            if value <= 0 or top <= 0:
                continue
            height = value / top * plot_height
            y -= height
            label = f"{day} · {series}: {text(value)}"
            bars.append(
                Bar(
                    round(x, 2),
                    round(y, 2),
                    round(width, 2),
                    round(height, 2),
                    palette[series],
                    label,
                )
            )
    every = max(1, -(-len(days) // 8))  # at most about eight day labels under the plot
    last = len(days) - 1
    shown = list(range(0, len(days), every))
    if shown and shown[-1] != last:  # the last day is always labelled
        if last - shown[-1] < every / 2:
            shown.pop()  # its neighbour's label would run into it
        shown.append(last)
    ticks = tuple(
        Tick(round(LEFT + index * slot + slot / 2, 2), days[index][5:]) for index in shown
    )
    scale = (Tick(TOP + plot_height, text(0.0)), Tick(TOP, text(top))) if top > 0 else ()
    legend = tuple((name, palette[name]) for name in values)
    return Chart(
        title,
        WIDTH,
        HEIGHT,
        tuple(bars),
        ticks,
        scale,
        legend,
        TOP + plot_height,
        LEFT,
        WIDTH - RIGHT,
    )
