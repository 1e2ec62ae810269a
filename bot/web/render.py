"""Server-rendered HTML: Jinja2 templates with autoescaping, number and time formats, the equity curve as SVG.

No build step and no JavaScript framework: each page is complete HTML; the small script in
static/cockpit.js only swaps in a fresh copy of the page's live part when the store has changed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.clock import age_text
from bot.web.board import needs_attention

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def money(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    if signed:
        return f"{value:+,.2f}"
    return f"{value:,.2f}"


def quantity(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.8g}"


def percent(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "–"
    return f"{value:+.2f} %" if signed else f"{value:.2f} %"


def clock_time(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def age(seconds: float | None) -> str:
    return "–" if seconds is None else age_text(seconds)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def sign_class(value: float | None) -> str:
    if value is None or abs(value) < 0.005:
        return "flat"
    return "up" if value > 0 else "down"


STATE_CLASSES = {
    "TRADING": "good", "FOLLOWING": "good", "ENTRY_BLOCKED": "warn", "STANDING_DOWN": "warn",
    "MASTER_OFFLINE": "bad", "BELOW_MINIMUM": "warn", "UNFUNDED": "warn", "DISABLED": "mute",
    "NO_CREDENTIALS": "mute", "BAD_CREDENTIALS": "bad", "AUTH_FAILED": "bad", "UNREACHABLE": "bad",
}
OUTCOME_CLASSES = {"filled": "good", "skipped": "warn", "failed": "bad", "observed": "mute", "sent": "pending",
                   "planned": "pending"}
HEALTH_CLASSES = {"healthy": "good", "degraded": "warn", "failed": "bad"}


#: the SVG viewBox of an equity curve (the page scales it to its width)
CURVE_WIDTH = 600
CURVE_HEIGHT = 160
_CURVE_PAD = 6


@dataclass(frozen=True)
class Curve:
    """An equity curve drawn as an SVG path in a fixed viewBox."""

    path: str
    area: str
    low: float
    high: float
    first: float
    last: float
    start: float
    end: float
    width: int = CURVE_WIDTH
    height: int = CURVE_HEIGHT


def curve(points: Sequence[tuple[float, float]]) -> Curve | None:
    """Scale (time, value) points into the box; None when there is nothing to draw. The samples come already
    thinned to EQUITY_CURVE_POINTS by the store (Board.account)."""
    finite = [(t, v) for t, v in points if math.isfinite(v)]
    if len(finite) < 2:
        return None
    t0, t1 = finite[0][0], finite[-1][0]
    low, high = min(v for _, v in finite), max(v for _, v in finite)
    span_t = (t1 - t0) or 1.0
    span_v = (high - low) or max(abs(high) * 0.001, 1.0)

    def xy(t: float, v: float) -> str:
        x = (t - t0) / span_t * CURVE_WIDTH
        y = _CURVE_PAD + (1 - (v - low) / span_v) * (CURVE_HEIGHT - 2 * _CURVE_PAD)
        return f"{x:.1f},{y:.1f}"

    coords = [xy(t, v) for t, v in finite]
    path = "M" + " L".join(coords)
    area = f"{path} L{CURVE_WIDTH},{CURVE_HEIGHT} L0,{CURVE_HEIGHT} Z"
    return Curve(path, area, low, high, finite[0][1], finite[-1][1], t0, t1)


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(money=money, qty=quantity, pct=percent, when=clock_time, age=age, duration=duration,
                       sign=sign_class)
    env.globals.update(STATE_CLASSES=STATE_CLASSES, OUTCOME_CLASSES=OUTCOME_CLASSES, HEALTH_CLASSES=HEALTH_CLASSES,
                       needs_attention=needs_attention)
    return env


class Pages:
    """Renders a page whole, or only its live part for the script's refresh."""

    def __init__(self) -> None:
        self.env = environment()

    def render(self, body: str, *, fragment: bool, **context: Any) -> str:
        template = self.env.get_template(body if fragment else "page.html")
        return template.render(body=body, **context)
