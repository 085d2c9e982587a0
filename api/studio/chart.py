"""The studio's daily payout chart as SVG geometry (no chart library): one stacked bar per day, the
video part below the ad part; a pending day is a pale full-height band, so it never reads as zero."""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from api.studio.formatting import STATUS_LABELS, short_day, won
from settlement.warehouse import DayStatus

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 72, 8, 12, 28
GRID_LINES = 4


@dataclass(frozen=True)
class Bar:
    day: dt.date
    status: str
    video_payout: int | None
    ad_payout: int | None
    x: float
    width: float
    video_y: float
    video_height: float
    ad_y: float
    ad_height: float
    title: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class DayLabel:
    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right_edge: int
    top: int
    baseline: float
    bars: list[Bar]
    ticks: list[Tick]
    day_labels: list[DayLabel]


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at least value (at least 1)."""
    step = 1
    while True:
        for multiple in (1, 2, 5):
            if multiple * step >= value:
                return multiple * step
        step *= 10


def daily_payout_chart(days: list[dict[str, Any]]) -> Chart:
    """days: [{day, status, video_payout, ad_payout}] oldest first (api.stats.service.daily_results)."""
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_height
    known = [day for day in days if day["status"] != DayStatus.PENDING]
    top = nice_ceiling(max((int(day["video_payout"]) + int(day["ad_payout"]) for day in known), default=0))
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    bars = [bar(day, LEFT + n * slot, slot, top, plot_height, baseline) for n, day in enumerate(days)]
    ticks = [
        Tick(y=round(baseline - plot_height * n / GRID_LINES, 1), label=won(top * n // GRID_LINES)) for n in range(GRID_LINES + 1)
    ]
    every = max(1, len(days) // 6)
    day_labels = [
        DayLabel(x=round(b.x + b.width / 2, 1), label=short_day(b.day))
        for n, b in enumerate(bars)
        if n % every == 0 or n == len(bars) - 1
    ]
    return Chart(WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, TOP, baseline, bars, ticks, day_labels)


def bar(day: dict[str, Any], slot_x: float, slot: float, top: int, plot_height: float, baseline: float) -> Bar:
    width = slot * 0.72
    x = slot_x + (slot - width) / 2
    status = DayStatus(day["status"])
    if status == DayStatus.PENDING:
        title = f"{day['day']}: pending, not settled yet"
        return Bar(day["day"], status, None, None, round(x, 1), round(width, 1), TOP, plot_height, TOP, 0, title)
    video, ad = int(day["video_payout"]), int(day["ad_payout"])
    video_height = plot_height * video / top
    ad_height = plot_height * ad / top
    title = f"{day['day']} ({STATUS_LABELS[status]}): video {won(video)}, ads {won(ad)}, total {won(video + ad)}"
    return Bar(
        day=day["day"],
        status=status,
        video_payout=video,
        ad_payout=ad,
        x=round(x, 1),
        width=round(width, 1),
        video_y=round(baseline - video_height, 1),
        video_height=round(video_height, 1),
        ad_y=round(baseline - video_height - ad_height, 1),
        ad_height=round(ad_height, 1),
        title=title,
    )
