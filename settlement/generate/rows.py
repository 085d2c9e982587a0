"""What is generated, as columns of numpy arrays (watch events, ad impressions), and the platform days
they fall on."""

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self

import numpy as np
import psycopg

KINDS = ("START", "PROGRESS", "PAUSE", "STOP")
START, PROGRESS, PAUSE, STOP = range(len(KINDS))

PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
DAY_US = 86_400 * 1_000_000


@dataclass(frozen=True)
class Day:
    index: int
    day: dt.date
    start_us: int  # the platform day's start, microseconds since 2000-01-01 UTC (binary timestamptz)
    seconds: int  # 86,400 but for daylight-saving days


def day_bounds(conn: psycopg.Connection, first: dt.date, last: dt.date, time_zone: str) -> list[Day]:
    """The platform days first..last, with the same bounds as their partitions."""
    rows = conn.execute(
        """
        SELECT d::date, d::date::timestamp AT TIME ZONE %(tz)s, (d::date + 1)::timestamp AT TIME ZONE %(tz)s
        FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d
        """,
        {"tz": time_zone, "first": first, "last": last},
    ).fetchall()
    return [
        Day(n, day, (start - PG_EPOCH) // dt.timedelta(microseconds=1), int((end - start).total_seconds()))
        for n, (day, start, end) in enumerate(rows)
    ]


class Columns:
    """A dataclass of equally long numpy arrays, one per column."""

    __dataclass_fields__: ClassVar[dict[str, Any]]  # (each subclass is a dataclass)

    @classmethod
    def empty(cls) -> Self:
        return cls(**{column.name: np.zeros(0, dtype=np.int64) for column in fields(cls)})

    def take(self, rows: Any) -> Self:
        return type(self)(**{name: values[rows] for name, values in vars(self).items()})

    @classmethod
    def concat(cls, parts: list[Self]) -> Self:
        return cls(**{name: np.concatenate([vars(part)[name] for part in parts]) for name in vars(parts[0])})

    def __len__(self) -> int:
        return len(next(iter(vars(self).values())))


@dataclass
class WatchEvents(Columns):
    occurred_us: np.ndarray  # microseconds since 2000-01-01 UTC
    user_id: np.ndarray
    video_id: np.ndarray
    position: np.ndarray
    watched: np.ndarray
    kind: np.ndarray  # index into KINDS


@dataclass
class AdImpressions(Columns):
    occurred_us: np.ndarray
    user_id: np.ndarray
    video_id: np.ndarray
    ad_id: np.ndarray
    slot: np.ndarray
