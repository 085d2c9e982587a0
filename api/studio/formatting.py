"""How the studio writes amounts, times and statuses for people."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from settlement.warehouse import DayStatus

STATUS_LABELS = {
    DayStatus.PENDING: "pending",
    DayStatus.SETTLED: "settled",
    DayStatus.CLOSED: "closed",
}
STATUS_MEANINGS = {
    DayStatus.PENDING: "not settled yet: amounts unknown, not zero",
    DayStatus.SETTLED: "estimated: may still change with late events",
    DayStatus.CLOSED: "final: paid; later changes arrive as adjustments",
}


def won(amount: int | Decimal | None) -> str:
    """₩12,345, -₩1,234; whole won, truncated (never rounded); an unknown amount is a dash."""
    if amount is None:
        return "—"
    whole = int(amount)  # int() truncates toward zero
    return f"{'-' if whole < 0 else ''}₩{abs(whole):,}"


def count(value: int | None) -> str:
    return "—" if value is None else f"{int(value):,}"


def watch_time(seconds: int | None) -> str:
    """1,234:05:06 (hours:minutes:seconds)."""
    if seconds is None:
        return "—"
    hours, rest = divmod(int(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:,}:{minutes:02d}:{seconds:02d}"


def short_day(day: dt.date) -> str:
    return f"{day.month:02d}-{day.day:02d}"


def period_label(period: str, first: dt.date, last: dt.date) -> str:
    if period == "day":
        return f"{first:%a %Y-%m-%d}"
    if period == "week":
        year, week, _ = first.isocalendar()
        return f"week {week} of {year} ({first} – {last})"
    return f"{first:%B %Y}"


def short_time(instant: dt.datetime | None, zone: ZoneInfo) -> str:
    """2026-11-03 09:15 in the platform's time zone."""
    return "—" if instant is None else f"{instant.astimezone(zone):%Y-%m-%d %H:%M}"


def percent(rate: Decimal) -> str:
    """0.003 -> 0.3 %, exactly (no float)."""
    return f"{(Decimal(rate) * 100).normalize():f} %"


PAYMENT_LABELS = {
    "carried_over": "carried over",
    "awaiting_payment": "awaiting payment",
    "paid": "paid",
    "returned": "returned by the bank",
}

FILTERS = {
    "won": won,
    "count": count,
    "watch_time": watch_time,
    "short_day": short_day,
    "short_time": short_time,
    "percent": percent,
}
