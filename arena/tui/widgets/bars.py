"""Ratings with their confidence intervals, drawn as text: one row per model.

Each row has a horizontal axis shared by all rows (scaled from the lowest interval bound to
the highest), the interval as a span of ``─`` and the rating as ``●``, then the numbers.
Plain text with style spans (never markup), so a model name cannot inject markup; names
pass through :func:`arena.safety.printable` as well. Re-rendered at the widget's width.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from arena.safety import printable

MAX_NAME = 24
MIN_AXIS = 10


@dataclass(frozen=True)
class Bar:
    """One model's rating and interval (``low``/``high`` None when there is none)."""

    model: str
    rating: float
    low: float | None = None
    high: float | None = None


def _number(bar: Bar) -> str:
    if bar.low is None or bar.high is None:
        return f"{bar.rating:.0f}"
    return f"{bar.rating:.0f} ({bar.low:.0f}–{bar.high:.0f})"


def _name(model: str, width: int) -> str:
    name = " ".join(printable(model).split())
    return name if len(name) <= width else name[: width - 1] + "…"


def render_bars(bars: list[Bar], width: int, *, axis: Style | str = "dim",
                interval: Style | str = "bold cyan", point: Style | str = "bold") -> Text:
    """The chart for ``bars`` in ``width`` columns: a row per bar, then the scale's ends."""
    if not bars:
        return Text("no ratings to draw", style=axis)
    name_w = min(MAX_NAME, max(len(_name(b.model, MAX_NAME)) for b in bars))
    num_w = max(len(_number(b)) for b in bars)
    axis_w = max(MIN_AXIS, width - name_w - num_w - 4)
    lo = min(b.low if b.low is not None else b.rating for b in bars)
    hi = max(b.high if b.high is not None else b.rating for b in bars)
    span = hi - lo if hi > lo else 1.0

    def col(value: float) -> int:
        return min(axis_w - 1, max(0, round((value - lo) / span * (axis_w - 1))))

    out = Text(no_wrap=True, overflow="crop")
    for b in bars:
        cells: list[tuple[str, Style | str]] = [("·", axis)] * axis_w
        if b.low is not None and b.high is not None:
            for i in range(col(b.low), col(b.high) + 1):
                cells[i] = ("─", interval)
        cells[col(b.rating)] = ("●", point)
        out.append(_name(b.model, name_w).ljust(name_w) + "  ")
        for ch, style in cells:
            out.append(ch, style=style)
        out.append("  " + _number(b).rjust(num_w) + "\n")
    left, right = f"{lo:.0f}", f"{hi:.0f}"
    gap = max(1, axis_w - len(left) - len(right))
    out.append(" " * (name_w + 2) + left + " " * gap + right, style=axis)
    return out


class RatingBars(Widget):
    """The chart of a leaderboard's ratings; set :attr:`bars` with :meth:`show`. Colours
    come from the component classes in ``arena.tcss``."""

    COMPONENT_CLASSES = {"bars--axis", "bars--interval", "bars--point"}

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.bars: list[Bar] = []

    def show(self, bars: list[Bar]) -> None:
        self.bars = list(bars)
        self.refresh(layout=True)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:  # type: ignore[override]
        return len(self.bars) + 1 if self.bars else 1

    def render(self) -> Text:
        return render_bars(self.bars, self.content_size.width or 80,
                           axis=self.get_component_rich_style("bars--axis"),
                           interval=self.get_component_rich_style("bars--interval"),
                           point=self.get_component_rich_style("bars--point"))
