"""The dashboard's two charts as SVG geometry: test scores (one series per topic) and the
30-day forecast of reviews due. Drawn by dashboard/dashboard.html as inline SVG: no JavaScript, no
chart library, no CDN. Every length is in the SVG's own units (its viewBox).

A series is told apart by its marker's shape as well as its colour (WCAG 1.4.1, use of
colour), and named in a legend; each chart has a text alternative on the page.
"""

import datetime as dt
import math
from dataclasses import dataclass, field

from dashboard.progress import DueDay

# One shape per series up to nine (ten tests span at most ten topics, and there are nine);
# the colours `series-1` … `series-6` of static/css/site.css cycle beside them.
MARKERS = ["circle", "square", "triangle", "diamond", "triangle-down", "plus", "cross", "hexagon", "star"]
COLOURS = 6
# Two date labels closer than this would overlap (10 px text, "30 Nov").
LABEL_GAP = 38


def star(points: int, outer: float, inner: float, turn: float = 0) -> list[tuple[float, float]]:
    """Corners of a star (or, with inner == outer, a regular polygon) around (0, 0)."""
    corners = []
    for index in range(2 * points):
        radius = outer if index % 2 == 0 else inner
        angle = math.pi * index / points - math.pi / 2 + turn
        corners.append((radius * math.cos(angle), radius * math.sin(angle)))
    return corners


# Each marker's outline as offsets from its centre, for a marker of radius 1.
SHAPES = {
    "square": [(-1, -1), (1, -1), (1, 1), (-1, 1)],
    "triangle": [(0, -1.2), (1.2, 1), (-1.2, 1)],
    "diamond": [(0, -1.3), (1.3, 0), (0, 1.3), (-1.3, 0)],
    "triangle-down": [(0, 1.2), (1.2, -1), (-1.2, -1)],
    "plus": star(4, 1.3, 0.45),
    "cross": star(4, 1.4, 0.45, math.pi / 4),
    "hexagon": star(3, 1.1, 1.1),
    "star": star(5, 1.35, 0.6),
}


def marker_path(shape: str, x: float, y: float, r: float = 4) -> str:
    """An SVG path `d` for a marker of `shape` centred on (x, y)."""
    if shape == "circle":
        return f"M{x - r},{y} a{r},{r} 0 1,0 {2 * r},0 a{r},{r} 0 1,0 {-2 * r},0 Z"
    corners = [f"{round(x + dx * r, 1)},{round(y + dy * r, 1)}" for dx, dy in SHAPES[shape]]
    return "M" + " L".join(corners) + " Z"


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class ScorePoint:
    attempt: object
    percent: int
    x: float
    y: float
    marker: str = ""


@dataclass
class Series:
    number: int  # 1-based colour class, series-1 … series-6
    topic: object
    shape: str
    points: list[ScorePoint] = field(default_factory=list)

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x},{p.y}" for p in self.points)

    @property
    def legend_marker(self) -> str:
        return marker_path(self.shape, 7, 7)


def date_ticks(positions_and_dates: list[tuple[float, dt.date]]) -> list[Tick]:
    """A tick label at each new date, left out where it would overlap the previous label."""
    ticks: list[Tick] = []
    shown = None
    for position, day in positions_and_dates:
        if day != shown and (not ticks or position - ticks[-1].position >= LABEL_GAP):
            ticks.append(Tick(position, f"{day.day} {day:%b}"))
            shown = day
    return ticks


def score_chart(attempts: list, *, width: int = 360, height: int = 200) -> dict:
    """Scores of `attempts` (newest first, as recent_scores gives them) drawn oldest left, one
    test per slot on the x axis labelled with its date, one series per topic."""
    left, right, top, baseline = 40, width - 10, 10, height - 42
    ordered = list(reversed(attempts))
    slot = (right - left) / max(1, len(ordered))
    series: dict[int, Series] = {}
    dated = []
    for index, attempt in enumerate(ordered):
        line = series.get(attempt.topic_id)
        if line is None:
            number = len(series)
            line = series[attempt.topic_id] = Series(
                number % COLOURS + 1, attempt.topic, MARKERS[number % len(MARKERS)]
            )
        percent = attempt.score.percent
        x = round(left + slot * (index + 0.5), 1)
        y = round(baseline - (baseline - top) * percent / 100, 1)
        line.points.append(ScorePoint(attempt, percent, x, y, marker_path(line.shape, x, y)))
        dated.append((x, attempt.submitted_at.astimezone(dt.UTC).date()))
    return {
        "width": width,
        "height": height,
        "series": list(series.values()),
        "left": left,
        "right": right,
        "top": top,
        "baseline": baseline,
        "y_ticks": [
            Tick(round(baseline - (baseline - top) * p / 100, 1), f"{p} %") for p in (0, 25, 50, 75, 100)
        ],
        "strong_y": round(baseline - (baseline - top) * 0.8, 1),  # the 80 % of a "strong" verdict
        "x_ticks": date_ticks(dated),
        "date_label_y": baseline + 16,
        "axis_title_y": height - 6,
        "middle": (left + right) / 2,
    }


@dataclass
class Bar:
    day: dt.date
    reviews: int
    x: float
    y: float
    bar_width: float
    bar_height: float


def forecast_chart(forecast: list[DueDay], *, width: int = 360, height: int = 180) -> dict:
    """A bar per day of `forecast`, today on the left, dates under every seventh day."""
    left, right, top, baseline = 34, width - 10, 10, height - 42
    slot = (right - left) / max(1, len(forecast))
    tallest = max((day.reviews for day in forecast), default=0)
    scale = (baseline - top) / max(1, tallest)
    bars = []
    for index, due in enumerate(forecast):
        bar_height = round(due.reviews * scale, 1)
        bars.append(
            Bar(
                due.day,
                due.reviews,
                round(left + slot * index + slot * 0.15, 1),
                round(baseline - bar_height, 1),
                round(slot * 0.7, 1),
                bar_height,
            )
        )
    y_values = sorted({0, tallest, tallest // 2} if tallest >= 4 else {0, tallest})
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "left": left,
        "right": right,
        "top": top,
        "baseline": baseline,
        "y_ticks": [Tick(round(baseline - value * scale, 1), str(value)) for value in y_values],
        "x_ticks": [
            Tick(round(left + slot * (index + 0.5), 1), f"{due.day.day} {due.day:%b}")
            for index, due in enumerate(forecast)
            if index % 7 == 0
        ],
        "date_label_y": baseline + 16,
        "axis_title_y": height - 6,
        "middle": (left + right) / 2,
        "tallest": tallest,
    }
