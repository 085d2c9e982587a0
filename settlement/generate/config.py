"""What a generator run is asked for, and what it reports."""

import datetime as dt
from dataclasses import dataclass, replace
from typing import TypeVar

from settlement import clock

T = TypeVar("T")

VIDEO_POPULARITY_EXPONENT = 1.0  # Zipf: the r-th most popular video is watched ~ 1/r as often


@dataclass(frozen=True)
class GenerateConfig:
    videos: int = 200
    users: int = 2_000
    days: int = 3
    events_per_day: int = 20_000
    seed: int = 1
    sellers: int | None = None  # default: about users / 20, at least 1
    ads: int | None = None  # default: max(5, videos / 50)
    first_day: dt.date | None = None  # default: `days` days before today, so the last day is yesterday
    popularity_exponent: float = VIDEO_POPULARITY_EXPONENT
    min_video_minutes: int = 1  # every video at least this long (30: every one has 5 ad slots or more)
    # Share of each day's events that is attack traffic (settlement.generate.attacks): events the quality
    # gate must turn down, or that earn nothing. They are part of events_per_day, not added to it.
    attack_share: float = 0.0
    # Events on each day, first to last, instead of events_per_day on every one (a measured day after
    # lighter days of history, in one catalog); days is then its length.
    daily_events: tuple[int, ...] | None = None

    def resolved(self, time_zone: str) -> "GenerateConfig":
        """This config with its defaults filled in, checked."""
        config = replace(
            self,
            sellers=self.sellers if self.sellers is not None else max(1, self.users // 20),
            ads=self.ads if self.ads is not None else max(5, self.videos // 50),
            days=len(self.daily_events) if self.daily_events is not None else self.days,
        )
        config = replace(config, first_day=config.first_day or default_first_day(config.days, time_zone))
        config.check()
        return config

    def check(self) -> None:
        problems = [
            f"{name} must be at least {least} (got {value})"
            for name, value, least in (
                ("videos", self.videos, 1),
                ("users", self.users, 1),
                ("days", self.days, 1),
                ("events_per_day", self.events_per_day, 0),
                ("sellers", self.sellers, 1),
                ("ads", self.ads, 0),
                ("min_video_minutes", self.min_video_minutes, 1),
            )
            if value is not None and value < least
        ]
        if self.sellers is not None and self.sellers > self.users:
            problems.append(f"sellers ({self.sellers}) cannot outnumber users ({self.users})")
        if not 0 <= self.seed < 2**63:
            problems.append(f"seed must be in 0 .. 2**63 - 1 (got {self.seed})")
        if self.popularity_exponent < 0:
            problems.append("popularity_exponent must not be negative")
        if not 0 <= self.attack_share <= 1:
            problems.append(f"attack_share must be in 0 .. 1 (got {self.attack_share})")
        if self.daily_events is not None and any(events < 0 for events in self.daily_events):
            problems.append("daily_events cannot be negative")
        if problems:
            raise ValueError("bad generate config: " + "; ".join(problems))

    @property
    def last_day(self) -> dt.date:
        return filled_in(self.first_day, "first_day") + dt.timedelta(days=self.days - 1)

    def events_on(self, day_index: int) -> int:
        """The watch events of the day_index-th generated day (attack traffic included)."""
        return self.daily_events[day_index] if self.daily_events is not None else self.events_per_day

    @property
    def total_events(self) -> int:
        return sum(self.events_on(n) for n in range(self.days))


@dataclass
class GenerateReport:
    rows: dict[str, int]
    seconds: float
    events_per_second: float  # watch events loaded per second of the event phase (COPY and commits)
    event_seconds: float
    first_day: dt.date
    last_day: dt.date
    user_ids: tuple[int, int] = (0, 0)  # first and last new id
    video_ids: tuple[int, int] = (0, 0)

    def lines(self) -> list[str]:
        lines = [f"days {self.first_day} .. {self.last_day}"]
        lines += [f"{table:<15} {count:>12,}" for table, count in self.rows.items()]
        lines.append(
            f"{self.seconds:.1f} s in all; watch events at {self.events_per_second:,.0f} events/s ({self.event_seconds:.1f} s)"
        )
        return lines


def filled_in(value: T | None, name: str) -> T:
    """A field of the config that resolved() fills in (None before)."""
    if value is None:
        raise ValueError(f"the generate config's {name} is unset: resolve the config first (GenerateConfig.resolved)")
    return value


def default_first_day(days: int, time_zone: str) -> dt.date:
    return clock.today(time_zone) - dt.timedelta(days=days)
