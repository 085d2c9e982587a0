"""Synthetic platform data at scale: users, sellers, videos, ads with contracts, ad slots, and days of
watch sessions with their playback events and ad impressions.

Deterministic for a seed: the same seed and config on an empty database give identical rows, event ids
and timestamps included. On a database that already has data it appends: new users, videos and ads get
new ids, and the event ids differ from any earlier run's (the id ranges seed the event stream).

Events are generated vectorised with numpy, session by session in start-time order, and encoded straight
into PostgreSQL's binary COPY format; a producer process generates while this one streams COPY data to
the server, so both of the machine's cores work. Each day is one transaction.
"""

import datetime as dt
import logging
import multiprocessing
import queue
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
import psycopg
from psycopg import sql

from settlement import clock, migrations
from settlement.config import Settings, get_settings

log = logging.getLogger(__name__)

KINDS = ("START", "PROGRESS", "PAUSE", "STOP")
START, PROGRESS, PAUSE, STOP = range(len(KINDS))

# What synthetic viewing looks like. Shapes of made-up data, not product rules.
VIDEO_POPULARITY_EXPONENT = 1.0  # Zipf: the r-th most popular video is watched ~ 1/r as often
USER_ACTIVITY_EXPONENT = 0.6  # some users watch much more than others
SELLER_CATALOG_EXPONENT = 1.1  # a few sellers own most of the videos
MEDIAN_VIDEO_SECONDS, VIDEO_SECONDS_SIGMA, SHORTEST_VIDEO, LONGEST_VIDEO = 480, 0.9, 60, 3600
RETURNING_SHARE = 0.3  # sessions that go back to a (user, video) pair of the last few days
RETURN_LAG_DAYS = {1: 0.5, 2: 0.3, 3: 0.2}  # how long ago that pair last watched
RESUME_UNLESS_WITHIN = 60  # a return resumes where it stopped unless that was this close to the end
COMPLETE_SHARE = 0.25  # sessions that play to the end
SHORTEST_PLAY = 10
PROGRESS_EVERY = 45  # seconds of play between progress reports, jittered to ~30..60
PROGRESS_JITTER = 0.25
PAUSED_SESSION_SHARE = 0.2  # sessions with a pause (one)
PAUSE_SECONDS = (10, 600)
RECEIVE_DELAY_US = (20_000, 3_000_000)
# Share of sessions starting in each local hour 00..23: quiet at night, peak in the evening.
HOURLY_CURVE = np.array(
    [9, 6, 4, 3, 2.5, 3, 5, 8, 10, 10, 11, 12, 13, 12, 11, 11, 12, 14, 17, 20, 23, 24, 20, 14], dtype=float
)
PLACEHOLDER_PASSWORD_HASH = "!synthetic: no password verifies against this"
ESTIMATED_EVENTS_PER_SESSION = 8.0

CHUNK_EVENTS = 250_000  # events per COPY write; also bounds the generator's working memory
QUEUE_CHUNKS = 4
INLINE_EVENTS = 300_000  # up to this many events in all, no producer process

PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
UNIX_MS_AT_PG_EPOCH = 946_684_800_000
DAY_US = 86_400 * 1_000_000
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # header, flags 0, no header extension
COPY_TRAILER = b"\xff\xff"

COPY_COLUMNS = {
    "watch_events": (
        "event_id", "occurred_at", "received_at", "user_id", "video_id", "position_seconds", "watched_seconds", "kind"
    ),
    "ad_impressions": ("event_id", "occurred_at", "received_at", "user_id", "video_id", "ad_id", "slot"),
}
# Every event's key goes into its source's registry with it (migration 0009): ids are unique per user for ever.
REGISTRIES = {"watch_events": "watch_event_ids", "ad_impressions": "ad_impression_ids"}
REGISTRY_COLUMNS = ("event_id", "user_id")


def copy_statement(table: str, target: str | None = None) -> sql.Composed:
    """COPY of `table`'s generated columns in binary, into `target` (one of its partitions) if given."""
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(target or table), sql.SQL(", ").join(map(sql.Identifier, COPY_COLUMNS[table]))
    )


def registry_copy_statement(table: str) -> sql.Composed:
    """COPY of the event keys of `table` into its registry, in binary."""
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(REGISTRIES[table]), sql.SQL(", ").join(map(sql.Identifier, REGISTRY_COLUMNS))
    )


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

    def resolved(self, time_zone: str) -> "GenerateConfig":
        """This config with its defaults filled in, checked."""
        config = replace(
            self,
            sellers=self.sellers if self.sellers is not None else max(1, self.users // 20),
            ads=self.ads if self.ads is not None else max(5, self.videos // 50),
            first_day=self.first_day or default_first_day(self.days, time_zone),
        )
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
            )
            if value is not None and value < least
        ]
        if self.sellers is not None and self.sellers > self.users:
            problems.append(f"sellers ({self.sellers}) cannot outnumber users ({self.users})")
        if not 0 <= self.seed < 2**63:
            problems.append(f"seed must be in 0 .. 2**63 - 1 (got {self.seed})")
        if self.popularity_exponent < 0:
            problems.append("popularity_exponent must not be negative")
        if problems:
            raise ValueError("bad generate config: " + "; ".join(problems))

    @property
    def last_day(self) -> dt.date:
        return self.first_day + dt.timedelta(days=self.days - 1)


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
            f"{self.seconds:.1f} s in all; watch events at {self.events_per_second:,.0f} events/s "
            f"({self.event_seconds:.1f} s)"
        )
        return lines


def default_first_day(days: int, time_zone: str) -> dt.date:
    return clock.today(time_zone) - dt.timedelta(days=days)


# ---------------------------------------------------------------------------------------------------
# Entry point


def generate(
    database_url: str, config: GenerateConfig, progress: bool = True, settings: Settings | None = None
) -> GenerateReport:
    """Appends synthetic users, videos, ads, slots and `config.days` days of events to a migrated database."""
    settings = settings or get_settings()
    config = config.resolved(settings.timezone)
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn:
        catalog = create_catalog(conn, config, settings)
        days = day_bounds(conn, config.first_day, config.last_day, settings.timezone)
        migrations.ensure_day_partitions(conn, config.first_day, config.last_day, settings.timezone)
        conn.commit()
        log.info("catalog: %s", catalog.rows)
        events_started = time.perf_counter()
        loaded = load_days(conn, config, catalog, days, progress)
        event_seconds = time.perf_counter() - events_started
        analyze_day_partitions(conn, [day.day for day in days])
    finished = time.perf_counter()
    return GenerateReport(
        rows={**catalog.rows, **loaded},
        seconds=finished - started,
        events_per_second=loaded["watch_events"] / event_seconds if event_seconds > 0 else 0.0,
        event_seconds=event_seconds,
        first_day=config.first_day,
        last_day=config.last_day,
        user_ids=(int(catalog.user_ids[0]), int(catalog.user_ids[-1])),
        video_ids=(int(catalog.video_ids[0]), int(catalog.video_ids[-1])),
    )


def day_partitions(conn: psycopg.Connection, days: list[dt.date]) -> list[str]:
    """The event tables' partitions of these days (named <table>_YYYYMMDD by ensure_day_partitions)."""
    wanted = [f"{table}_{day:%Y%m%d}" for table in ("watch_events", "ad_impressions") for day in days]
    rows = conn.execute(
        """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent IN ('watch_events'::regclass, 'ad_impressions'::regclass)
             AND c.relname = ANY (%s) ORDER BY c.relname""",
        (wanted,),
    ).fetchall()
    return [name for (name,) in rows]


def analyze_day_partitions(conn: psycopg.Connection, days: list[dt.date]) -> None:
    """Fresh statistics for the loaded days, so the next settlement plans with them (autovacuum would
    get there within a minute or so)."""
    for name in day_partitions(conn, days):
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(name)))
    conn.commit()


# ---------------------------------------------------------------------------------------------------
# Users, videos, ads and ad slots


@dataclass
class Catalog:
    """The generated users and videos, as arrays indexed by a dense position, and who watches what."""

    user_ids: np.ndarray
    video_ids: np.ndarray
    durations: np.ndarray
    user_cdf: np.ndarray
    video_cdf: np.ndarray
    slot_start: np.ndarray  # per video: where its slots begin in slot_ads
    slot_count: np.ndarray  # per video: its highest filled slot
    slot_ads: np.ndarray  # ad id of each (video, slot); 0 where the slot is empty
    slot_seconds: int
    event_salt: int
    rows: dict[str, int] = field(default_factory=dict)


def create_catalog(conn: psycopg.Connection, config: GenerateConfig, settings: Settings) -> Catalog:
    rng = np.random.default_rng([config.seed, 0])
    first_day_start = conn.execute(
        "SELECT %s::date::timestamp AT TIME ZONE %s", (config.first_day, settings.timezone)
    ).fetchone()[0]
    user_ids = insert_users(conn, rng, config, first_day_start)
    video_ids, durations = insert_videos(conn, rng, config, user_ids[: config.sellers], first_day_start)
    insert_ads(conn, rng, config)
    slot_start, slot_count, slot_ads = fill_slots(conn, config.seed, video_ids)
    stream_rng = np.random.default_rng([config.seed, int(user_ids[0]), int(video_ids[0])])
    return Catalog(
        user_ids=user_ids,
        video_ids=video_ids,
        durations=durations,
        user_cdf=zipf_cdf(rng, len(user_ids), USER_ACTIVITY_EXPONENT),
        video_cdf=zipf_cdf(rng, len(video_ids), config.popularity_exponent),
        slot_start=slot_start,
        slot_count=slot_count,
        slot_ads=slot_ads,
        slot_seconds=settings.ad_slot_interval_seconds,
        event_salt=int(stream_rng.integers(0, 1 << 21)),  # bits 40..60 of an id's low half
        rows={"users": len(user_ids), "videos": len(video_ids), "ads": config.ads, "video_ads": int((slot_ads > 0).sum())},
    )


def reserve_ids(conn: psycopg.Connection, table: str, count: int) -> np.ndarray:
    """count new ids from the table's identity sequence, ascending (gaps possible under concurrency)."""
    ids = conn.execute(
        """SELECT array_agg(id ORDER BY id)
           FROM (SELECT nextval(pg_get_serial_sequence(%s, 'id')) AS id FROM generate_series(1, %s)) AS reserved""",
        (table, count),
    ).fetchone()[0]
    return np.array(ids or [], dtype=np.int64)


def seconds_before(rng: np.random.Generator, count: int, most_days: int) -> list[int]:
    """Random ages in seconds, from 1 day up to most_days days (for created_at before the first day)."""
    return rng.integers(86_400, most_days * 86_400, count).tolist()


def insert_users(conn, rng, config: GenerateConfig, first_day_start: dt.datetime) -> np.ndarray:
    ids = reserve_ids(conn, "users", config.users)
    conn.execute(
        """
        INSERT INTO users (id, email, username, password_hash, role, created_at) OVERRIDING SYSTEM VALUE
        SELECT u.id,
               'synthetic-user-' || u.id || '@example.com',
               CASE WHEN u.n <= %(sellers)s THEN 'seller-' ELSE 'user-' END || u.id,
               %(password_hash)s,
               CASE WHEN u.n <= %(sellers)s THEN 'SELLER' ELSE 'USER' END,
               %(first_day_start)s - make_interval(secs => u.age)
        FROM unnest(%(ids)s::bigint[], %(ages)s::bigint[]) WITH ORDINALITY AS u (id, age, n)
        """,
        {
            "ids": ids.tolist(),
            "ages": seconds_before(rng, len(ids), 3 * 365),
            "sellers": config.sellers,
            "password_hash": PLACEHOLDER_PASSWORD_HASH,
            "first_day_start": first_day_start,
        },
    )
    return ids


def video_durations(rng: np.random.Generator, count: int) -> np.ndarray:
    seconds = rng.lognormal(np.log(MEDIAN_VIDEO_SECONDS), VIDEO_SECONDS_SIGMA, count)
    return np.clip(np.rint(seconds), SHORTEST_VIDEO, LONGEST_VIDEO).astype(np.int64)


def insert_videos(conn, rng, config: GenerateConfig, seller_ids: np.ndarray, first_day_start) -> tuple:
    ids = reserve_ids(conn, "videos", config.videos)
    owners = seller_ids[draw(rng, zipf_cdf(rng, len(seller_ids), SELLER_CATALOG_EXPONENT), len(ids))]
    durations = video_durations(rng, len(ids))
    conn.execute(
        """
        INSERT INTO videos (id, seller_id, title, description, video_url, duration_seconds, status, created_at)
        OVERRIDING SYSTEM VALUE
        SELECT v.id, v.seller_id, 'Synthetic video ' || v.id, 'Generated for load and demo runs.',
               'https://videos.example.com/' || v.id, v.duration, 'ACTIVE',
               %(first_day_start)s - make_interval(secs => v.age)
        FROM unnest(%(ids)s::bigint[], %(owners)s::bigint[], %(durations)s::int[], %(ages)s::bigint[])
             AS v (id, seller_id, duration, age)
        """,
        {
            "ids": ids.tolist(),
            "owners": owners.tolist(),
            "durations": durations.tolist(),
            "ages": seconds_before(rng, len(ids), 365),
            "first_day_start": first_day_start,
        },
    )
    return ids, durations


def ad_contracts(rng: np.random.Generator, config: GenerateConfig) -> tuple[list[dt.date], list[dt.date]]:
    """Contract periods around the generated days: most cover them all and the day after (ACTIVE), some
    start after it (SCHEDULED), some ended before the first day (EXPIRED). At least one is active."""
    as_of = config.last_day + dt.timedelta(days=1)
    starts, ends = [], []
    for n, roll in enumerate(rng.random(config.ads)):
        lead, length = int(rng.integers(0, 60)), int(rng.integers(30, 180))
        if roll < 0.8 or n == 0:
            start, end = config.first_day - dt.timedelta(days=lead), as_of + dt.timedelta(days=length)
        elif roll < 0.9:
            start = as_of + dt.timedelta(days=1 + lead)
            end = start + dt.timedelta(days=length)
        else:
            end = config.first_day - dt.timedelta(days=1 + lead)
            start = end - dt.timedelta(days=length)
        starts.append(start)
        ends.append(end)
    return starts, ends


def insert_ads(conn, rng, config: GenerateConfig) -> None:
    if not config.ads:
        return
    ids = reserve_ids(conn, "ads", config.ads)
    starts, ends = ad_contracts(rng, config)
    conn.execute(
        """
        INSERT INTO ads (id, title, ad_url, duration_seconds, contract_start, contract_end, status)
        OVERRIDING SYSTEM VALUE
        SELECT a.id, 'Synthetic ad ' || a.id, 'https://ads.example.com/' || a.id, a.duration,
               a.contract_start, a.contract_end, ad_status_on(a.contract_start, a.contract_end, %(as_of)s)
        FROM unnest(%(ids)s::bigint[], %(durations)s::int[], %(starts)s::date[], %(ends)s::date[])
             AS a (id, duration, contract_start, contract_end)
        """,
        {
            "ids": ids.tolist(),
            "durations": rng.choice([15, 30, 60], len(ids)).tolist(),
            "starts": starts,
            "ends": ends,
            "as_of": config.last_day + dt.timedelta(days=1),
        },
    )


def fill_slots(conn, seed: int, video_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fills the new videos' ad slots (fill_ad_slots picks randomly among equally loaded ads: seeding
    the session's random() keeps that deterministic) and returns them as a dense slot table."""
    conn.execute("SELECT setseed(%s)", ((seed % 2**31) / 2**31,))
    conn.execute("SELECT fill_ad_slots(%s::bigint[])", (video_ids.tolist(),))
    rows = conn.execute(
        "SELECT video_id, slot, ad_id FROM video_ads WHERE video_id = ANY (%s::bigint[])", (video_ids.tolist(),)
    ).fetchall()
    slots = np.array(rows, dtype=np.int64).reshape(-1, 3)
    positions = np.searchsorted(video_ids, slots[:, 0])
    slot_count = np.zeros(len(video_ids), dtype=np.int64)
    np.maximum.at(slot_count, positions, slots[:, 1])
    slot_start = np.cumsum(slot_count) - slot_count
    slot_ads = np.zeros(int(slot_count.sum()), dtype=np.int64)
    slot_ads[slot_start[positions] + slots[:, 1] - 1] = slots[:, 2]
    return slot_start, slot_count, slot_ads


def zipf_cdf(rng: np.random.Generator, count: int, exponent: float) -> np.ndarray:
    """Cumulative popularity of `count` items whose ranks are a random permutation: rank r weighs r^-exponent."""
    weights = (rng.permutation(count) + 1.0) ** -exponent
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    return cdf


def draw(rng: np.random.Generator, cdf: np.ndarray, count: int) -> np.ndarray:
    return np.searchsorted(cdf, rng.random(count), side="right")


# ---------------------------------------------------------------------------------------------------
# Days


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

    def take(self, rows):
        return type(self)(**{name: values[rows] for name, values in vars(self).items()})

    @classmethod
    def concat(cls, parts: list):
        return cls(**{name: np.concatenate([vars(part)[name] for part in parts]) for name in vars(parts[0])})

    def __len__(self) -> int:
        return len(next(iter(vars(self).values())))


@dataclass
class Sessions(Columns):
    """Watch sessions: positions into the catalog's users and videos, and how each one plays."""

    user: np.ndarray
    video: np.ndarray
    start_position: np.ndarray
    played: np.ndarray  # seconds of play
    reports: np.ndarray  # events after the START: progress reports, at most one pause, the STOP
    pause_step: np.ndarray  # which report is a PAUSE (0: none)
    paused: np.ndarray  # seconds of the break after that pause
    start_us: np.ndarray  # microseconds into the day

    @property
    def events(self) -> np.ndarray:
        return self.reports + 1

    @property
    def end_position(self) -> np.ndarray:
        return self.start_position + self.played


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


@dataclass
class History:
    """Recent days' sessions, for viewers who come back to a video."""

    days: list[Sessions] = field(default_factory=list)

    def remember(self, sessions: Sessions) -> None:
        self.days = [sessions, *self.days][: max(RETURN_LAG_DAYS)]


def draw_sessions(rng, count: int, catalog: Catalog, history: History) -> Sessions:
    """Who watches what, from where and for how long; a share of them return to a recent day's pair."""
    video = draw(rng, catalog.video_cdf, count)
    user = draw(rng, catalog.user_cdf, count)
    start_position = np.zeros(count, dtype=np.int64)
    lags = [lag for lag in RETURN_LAG_DAYS if lag <= len(history.days) and len(history.days[lag - 1])]
    if lags:
        weights = np.array([RETURN_LAG_DAYS[lag] for lag in lags])
        returning = np.flatnonzero(rng.random(count) < RETURNING_SHARE)
        lag_of = rng.choice(len(lags), size=len(returning), p=weights / weights.sum())
        for n, lag in enumerate(lags):
            who = returning[lag_of == n]
            past = history.days[lag - 1]
            picked = rng.integers(0, len(past), len(who))
            user[who], video[who] = past.user[picked], past.video[picked]
            resume = past.end_position[picked]
            start_position[who] = np.where(resume < catalog.durations[video[who]] - RESUME_UNLESS_WITHIN, resume, 0)
    remaining = catalog.durations[video] - start_position
    share = np.where(rng.random(count) < COMPLETE_SHARE, 1.0, rng.beta(1.2, 2.0, count))
    played = np.clip(np.floor(remaining * share).astype(np.int64), np.minimum(remaining, SHORTEST_PLAY), remaining)
    nothing = np.zeros(count, dtype=np.int64)
    return Sessions(
        user=user,
        video=video,
        start_position=start_position,
        played=played,
        reports=np.maximum(1, np.rint(played / PROGRESS_EVERY)).astype(np.int64),
        pause_step=nothing,
        paused=nothing.copy(),
        start_us=nothing.copy(),
    )


def plan_day(rng, events: int, catalog: Catalog, history: History, day_seconds: int) -> Sessions:
    """Sessions with exactly `events` events in all (the last one drawn is cut short), in start order."""
    parts, total, per_session = [], 0, ESTIMATED_EVENTS_PER_SESSION
    while total < events:
        part = draw_sessions(rng, int((events - total) / per_session * 1.05) + 16, catalog, history)
        parts.append(part)
        total += int(part.events.sum())
        per_session = total / sum(len(p) for p in parts)
    if not parts:
        return draw_sessions(rng, 0, catalog, history)
    sessions = Sessions.concat(parts)
    through = np.cumsum(sessions.events)
    last = int(np.searchsorted(through, events))
    sessions = sessions.take(slice(0, last + 1))
    reports = int(sessions.reports[last] - (through[last] - events))
    sessions.played[last] = sessions.played[last] * reports // sessions.reports[last]
    sessions.reports[last] = reports  # 0 leaves a lone START: a client that died right away
    schedule(rng, sessions, day_seconds)
    one_session_at_a_time(rng, sessions, catalog)
    return sessions.take(np.argsort(sessions.start_us, kind="stable"))


def schedule(rng, sessions: Sessions, day_seconds: int) -> None:
    """Pauses, and start times on the daily curve, each session fitting inside its day."""
    count = len(sessions)
    pausing = (rng.random(count) < PAUSED_SESSION_SHARE) & (sessions.reports >= 2)
    interior_step = 1 + (rng.random(count) * np.maximum(sessions.reports - 1, 1)).astype(np.int64)
    sessions.pause_step = np.where(pausing, interior_step, 0)
    sessions.paused = np.where(pausing, rng.integers(*PAUSE_SECONDS, count), 0)
    hour = rng.choice(24, size=count, p=HOURLY_CURVE / HOURLY_CURVE.sum())
    wanted = (hour + rng.random(count)) * (day_seconds / 24)
    latest = np.maximum(day_seconds - sessions.played - sessions.paused - 2, 0)
    sessions.start_us = (np.minimum(wanted, latest) * 1e6).astype(np.int64)


def one_session_at_a_time(rng, sessions: Sessions, catalog: Catalog, rounds: int = 20) -> None:
    """A person plays a video in one session at a time: a session that overlaps an earlier one of the
    same (user, video) goes to another user (tiny catalogs may keep a few overlaps)."""
    ends = sessions.start_us + (sessions.played + sessions.paused + 2) * 1_000_000
    for _ in range(rounds):
        pair_key = sessions.user * len(catalog.video_ids) + sessions.video
        order = np.lexsort((sessions.start_us, pair_key))
        pair_key = pair_key[order]
        new_pair = np.r_[True, pair_key[1:] != pair_key[:-1]]
        pair = np.cumsum(new_pair)
        # the latest end so far within each pair: offset pairs so one running maximum serves them all
        lift = pair * (2 * DAY_US)
        latest_end = np.maximum.accumulate(ends[order] + lift) - lift
        clash = order[1:][~new_pair[1:] & (sessions.start_us[order][1:] <= latest_end[:-1])]
        if not len(clash):
            return
        sessions.user[clash] = draw(rng, catalog.user_cdf, len(clash))
    log.debug("%d sessions still overlap another of their (user, video)", len(clash))


def session_events(rng, sessions: Sessions, catalog: Catalog, day: Day) -> tuple[WatchEvents, AdImpressions]:
    """Each session: a START, progress reports every ~30-60 s of play (maybe one PAUSE, then a break),
    a STOP; watched_seconds is the play since the previous event. Ad impressions where the play passes
    an ad slot, recorded with the event whose play crossed it (as the API records them)."""
    events = sessions.events
    total = int(events.sum())
    first = np.cumsum(events) - events
    session = np.repeat(np.arange(len(events)), events)
    step = np.arange(total) - first[session]
    reports = sessions.reports[session]
    played = sessions.played[session]
    pause_step = sessions.pause_step[session]

    interior = (step > 0) & (step < reports)
    jittered = step + rng.uniform(-PROGRESS_JITTER, PROGRESS_JITTER, total)
    divisor = np.maximum(reports, 1)
    offset = np.where(interior, np.floor(played * jittered / divisor).astype(np.int64), played * step // divisor)
    position = sessions.start_position[session] + offset
    watched = np.diff(position, prepend=0)
    watched[first] = 0

    kind = np.full(total, PROGRESS)
    kind[(step == pause_step) & interior] = PAUSE
    kind[step == reports] = STOP
    kind[step == 0] = START
    elapsed = offset + np.where((pause_step > 0) & (step > pause_step), sessions.paused[session], 0)
    occurred_us = day.start_us + sessions.start_us[session] + elapsed * 1_000_000 + rng.integers(0, 1_000_000, total)

    ad_session, ad_slot = passed_slots(sessions, catalog)
    # The play reaches slot k's time between two events: the first event at or past it played across it.
    reached = ad_slot * catalog.slot_seconds
    at_or_past = np.searchsorted(session << 32 | position, ad_session << 32 | reached)
    ad_video = sessions.video[ad_session]
    ad_id = catalog.slot_ads[catalog.slot_start[ad_video] + ad_slot - 1]
    filled = ad_id > 0
    impressions = AdImpressions(
        occurred_us=occurred_us[at_or_past],
        user_id=catalog.user_ids[sessions.user[ad_session]],
        video_id=catalog.video_ids[ad_video],
        ad_id=ad_id,
        slot=ad_slot,
    ).take(filled)
    watch_events = WatchEvents(
        occurred_us=occurred_us,
        user_id=catalog.user_ids[sessions.user][session],
        video_id=catalog.video_ids[sessions.video][session],
        position=position,
        watched=watched,
        kind=kind,
    )
    return watch_events, impressions


def passed_slots(sessions: Sessions, catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
    """(session, slot) for every filled-or-not ad slot k whose time the play passes: start < k * interval <= end."""
    first_slot = sessions.start_position // catalog.slot_seconds + 1
    last_slot = np.minimum(catalog.slot_count[sessions.video], sessions.end_position // catalog.slot_seconds)
    count = np.maximum(last_slot - first_slot + 1, 0)
    session = np.repeat(np.arange(len(count)), count)
    slot = first_slot[session] + np.arange(int(count.sum())) - (np.cumsum(count) - count)[session]
    return session, slot


def chunk_bounds(events_per_session: np.ndarray, chunk_events: int) -> list[int]:
    """Session indices cutting the sessions into runs of about chunk_events events."""
    through = np.cumsum(events_per_session)
    total = int(through[-1]) if len(through) else 0
    cuts = np.searchsorted(through, np.arange(chunk_events, total, chunk_events), side="right")
    bounds = sorted({0, len(through), *cuts.tolist()})
    return bounds if len(bounds) > 1 else [0, 0]


def day_events(rng, sessions: Sessions, catalog: Catalog, day: Day) -> Iterator[tuple[WatchEvents, AdImpressions]]:
    """The day's watch events in time order, chunk by chunk, with the ad impressions of each chunk's
    sessions. Sessions are in start order, so no later chunk has an event before the next chunk's first
    start: events up to it are final, the rest wait for the next chunk."""
    waiting = None
    bounds = chunk_bounds(sessions.events, CHUNK_EVENTS)
    for low, high in zip(bounds, bounds[1:]):
        events, impressions = session_events(rng, sessions.take(slice(low, high)), catalog, day)
        if waiting is not None:
            events = WatchEvents.concat([waiting, events])
        events = events.take(np.argsort(events.occurred_us, kind="stable"))
        final = len(events) if high == len(sessions) else np.searchsorted(
            events.occurred_us, day.start_us + sessions.start_us[high]
        )
        yield events.take(slice(0, final)), impressions
        waiting = events.take(slice(final, None))


# ---------------------------------------------------------------------------------------------------
# Binary COPY encoding


def copy_tuples(columns: list[tuple[str, object]], count: int) -> np.ndarray:
    """COPY BINARY tuples as a numpy record array: (big-endian numpy type, values) per column."""
    layout = [("fields", ">i2")]
    for n, (kind, _) in enumerate(columns):
        layout += [(f"size{n}", ">i4"), (f"value{n}", kind)]
    tuples = np.empty(count, dtype=np.dtype(layout))
    tuples["fields"] = len(columns)
    for n, (_, values) in enumerate(columns):
        tuples[f"size{n}"] = tuples.dtype[f"value{n}"].itemsize
        tuples[f"value{n}"] = values
    return tuples


def event_uuids(occurred_us: np.ndarray, counter: int, salt: int, table: int) -> np.ndarray:
    """Time-ordered uuids (version 7 layout): unix milliseconds, then 12 bits of sub-millisecond time,
    then the variant, a table bit, the run's salt and a counter. Ids never repeat within a run, differ
    between appending runs, and events written in time order get ascending ids (index locality)."""
    unix_ms, micros = np.divmod(occurred_us + UNIX_MS_AT_PG_EPOCH * 1000, 1000)
    high = unix_ms.astype(np.uint64) << np.uint64(16) | np.uint64(0x7000) | (micros * 4096 // 1000).astype(np.uint64)
    prefix = 0x8000_0000_0000_0000 | table << 61 | salt << 40
    low = np.uint64(prefix) + np.arange(counter, counter + len(occurred_us), dtype=np.uint64)
    ids = np.empty((len(occurred_us), 2), dtype=">u8")
    ids[:, 0], ids[:, 1] = high, low
    return ids.view("V16").ravel()


def received_after(rng, occurred_us: np.ndarray) -> np.ndarray:
    return occurred_us + rng.integers(*RECEIVE_DELAY_US, len(occurred_us))


KIND_TEXT = np.array([kind.encode() for kind in KINDS])
KIND_LENGTH = np.array([len(kind) for kind in KINDS])


def encode_keys(ids: np.ndarray, user_ids: np.ndarray) -> bytes:
    """The registry rows (event_id, user_id) of encoded events."""
    return copy_tuples([("V16", ids), (">i8", user_ids)], len(ids)).tobytes()


def encode_watch_events(events: WatchEvents, rng, counter: int, salt: int) -> tuple[bytes, bytes]:
    """The events' COPY data and their keys'. kind, the one text column, goes last: each tuple is laid
    out with room for the longest kind, and the unused tail bytes of shorter kinds are cut out afterwards."""
    ids = event_uuids(events.occurred_us, counter, salt, table=0)
    tuples = copy_tuples(
        [
            ("V16", ids),
            (">i8", events.occurred_us),
            (">i8", received_after(rng, events.occurred_us)),
            (">i8", events.user_id),
            (">i8", events.video_id),
            (">i4", events.position),
            (">i4", events.watched),
            (KIND_TEXT.dtype.str, KIND_TEXT[events.kind]),
        ],
        len(events),
    )
    tuples["size7"] = KIND_LENGTH[events.kind]
    width = tuples.dtype.itemsize
    used = np.arange(width) < width - (KIND_TEXT.dtype.itemsize - KIND_LENGTH)[:, None]  # per kind
    data = tuples.view(np.uint8).reshape(-1, width)[used[events.kind]].tobytes()
    return data, encode_keys(ids, events.user_id)


def encode_ad_impressions(impressions: AdImpressions, rng, counter: int, salt: int) -> tuple[bytes, bytes]:
    ids = event_uuids(impressions.occurred_us, counter, salt, table=1)
    tuples = copy_tuples(
        [
            ("V16", ids),
            (">i8", impressions.occurred_us),
            (">i8", received_after(rng, impressions.occurred_us)),
            (">i8", impressions.user_id),
            (">i8", impressions.video_id),
            (">i8", impressions.ad_id),
            (">i4", impressions.slot),
        ],
        len(impressions),
    )
    return tuples.tobytes(), encode_keys(ids, impressions.user_id)


# ---------------------------------------------------------------------------------------------------
# Producing chunks in a child process, loading them with COPY


@dataclass
class Chunk:
    """COPY data: a run of a day's watch events, or, closing the day, all its ad impressions; and the
    data of their keys for the registry."""

    day: Day
    data: bytes
    keys: bytes
    rows: int
    impressions: bool = False


def produce_chunks(config: GenerateConfig, catalog: Catalog, days: list[Day]) -> Iterator[Chunk]:
    history = History()
    counters = {"events": 0, "impressions": 0}
    for day in days:
        rng = np.random.default_rng([config.seed, 1, catalog.event_salt, day.index])
        sessions = plan_day(rng, config.events_per_day, catalog, history, day.seconds)
        history.remember(sessions)
        impressions = []
        for events, chunk_impressions in day_events(rng, sessions, catalog, day):
            yield Chunk(day, *encode_watch_events(events, rng, counters["events"], catalog.event_salt), len(events))
            counters["events"] += len(events)
            impressions.append(chunk_impressions)
        day_impressions = AdImpressions.concat(impressions)
        day_impressions = day_impressions.take(np.argsort(day_impressions.occurred_us, kind="stable"))
        data, keys = encode_ad_impressions(day_impressions, rng, counters["impressions"], catalog.event_salt)
        counters["impressions"] += len(day_impressions)
        yield Chunk(day, data, keys, len(day_impressions), impressions=True)


def produce_into(handoff, config: GenerateConfig, catalog: Catalog, days: list[Day]) -> None:
    """The producer process: chunks into the queue, then None; or the error that stopped it."""
    try:
        for chunk in produce_chunks(config, catalog, days):
            handoff.put(chunk)
        handoff.put(None)
    except BaseException as exc:
        handoff.put(ProducerFailed(f"generating events failed: {exc!r}"))


class ProducerFailed(RuntimeError):
    pass


@contextmanager
def produced(config: GenerateConfig, catalog: Catalog, days: list[Day]) -> Iterator[Iterator[Chunk]]:
    """The chunks, generated a few ahead by a child process when there are many: a process, not a
    thread, so generating never holds up the COPY stream on the GIL and both cores work. Few are
    generated right here (starting a process would cost more than it saves)."""
    if config.events_per_day * len(days) <= INLINE_EVENTS:
        yield produce_chunks(config, catalog, days)
        return
    # fork: the child starts at once and shares the catalog; it never touches the parent's connection
    # and leaves with os._exit. Elsewhere spawn (the caller's main module must then be import-safe).
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    handoff = context.Queue(maxsize=QUEUE_CHUNKS)
    producer = context.Process(target=produce_into, args=(handoff, config, catalog, days), daemon=True)
    producer.start()

    def chunks() -> Iterator[Chunk]:
        while True:
            try:
                item = handoff.get(timeout=1.0)
            except queue.Empty:
                if not producer.is_alive():
                    raise ProducerFailed(f"the event producer died (exit code {producer.exitcode})") from None
                continue
            if item is None:
                return
            if isinstance(item, ProducerFailed):
                raise item
            yield item

    try:
        yield chunks()
    finally:
        if producer.is_alive():
            producer.terminate()
        producer.join()
        handoff.close()


def copy_binary(cursor: psycopg.Cursor, statement: sql.Composable, chunks: Iterator[bytes]) -> None:
    with cursor.copy(statement) as copy:
        copy.write(COPY_SIGNATURE)
        for data in chunks:
            copy.write(data)
        copy.write(COPY_TRAILER)


def progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total, unit=" events", unit_scale=True, file=sys.stderr, disable=not enabled,
        desc="watch events", smoothing=0.1,
    )


def load_days(conn: psycopg.Connection, config, catalog: Catalog, days: list[Day], progress: bool) -> dict:
    """COPYs each day's watch events chunk by chunk, then its ad impressions, and commits the day.
    The events' keys go into the registry over a second connection at the same time, so that a
    second server process (and core) carries the registry's index. The keys commit just before the
    day's events: no event is ever without its key. A failure between the two commits leaves keys of
    events never loaded: ids of this catalog's salt, which nothing else draws."""
    loaded = {"watch_events": 0, "ad_impressions": 0}
    with (
        psycopg.connect(conn.info.dsn, password=conn.info.password) as keys_conn,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry") as registry,
        produced(config, catalog, days) as chunks,
        progress_bar(config.events_per_day * len(days), progress) as bar,
        conn.cursor() as cursor,
        keys_conn.cursor() as keys_cursor,
    ):
        # Straight into the day's partitions: skips routing each row (the server still checks every row
        # against the partition's bounds).
        partitions = {}
        for chunk in chunks:
            if chunk.day.day not in partitions:
                partitions = {chunk.day.day: {name.rsplit("_", 1)[0]: name for name in day_partitions(conn, [chunk.day.day])}}
            table = "ad_impressions" if chunk.impressions else "watch_events"
            keys_copied = registry.submit(copy_binary, keys_cursor, registry_copy_statement(table), [chunk.keys])
            copy_binary(cursor, copy_statement(table, partitions[chunk.day.day].get(table)), [chunk.data])
            keys_copied.result()
            loaded[table] += chunk.rows
            if chunk.impressions:  # the day's last chunk
                keys_conn.commit()
                conn.commit()
                bar.set_postfix_str(f"{chunk.day.day} committed", refresh=False)
            else:
                bar.update(chunk.rows)
    return loaded
