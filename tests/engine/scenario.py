"""A small hand-built platform and an independent reference implementation of SPEC.md's rules,
to check the engine's results against values computed here, not by the engine."""

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

# SPEC.md's price tiers, written out again on purpose: the reference must not read the engine's seed.
VIDEO_TIERS = [(0, Decimal("1.0")), (100_000, Decimal("1.1")), (500_000, Decimal("1.3")), (1_000_000, Decimal("1.5"))]
AD_TIERS = [(0, Decimal("10")), (100_000, Decimal("12")), (500_000, Decimal("15")), (1_000_000, Decimal("20"))]
SEOUL = ZoneInfo("Asia/Seoul")
WINDOW = dt.timedelta(hours=48)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """A platform-local (Seoul) time on a day."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SEOUL)


@dataclass
class Platform:
    conn: object
    events: list = field(default_factory=list)  # (kind, user_id, video_id, occurred_at, watched_seconds)
    impressions: list = field(default_factory=list)  # (user_id, video_id, ad_id, occurred_at)
    videos: dict = field(default_factory=dict)  # video_id -> (seller_id, duration_seconds)
    ads: dict = field(default_factory=dict)  # ad_id -> (contract_start, contract_end)

    def user(self, name: str, role: str = "USER") -> int:
        return self.conn.execute(
            "INSERT INTO users (email, username, password_hash, role) VALUES (%s, %s, 'x', %s) RETURNING id",
            (f"{name}@example.com", name, role),
        ).fetchone()[0]

    def video(self, seller_id: int, duration_seconds: int) -> int:
        video_id = self.conn.execute(
            """INSERT INTO videos (seller_id, title, video_url, duration_seconds)
               VALUES (%s, 'v', 'https://example.com/v', %s) RETURNING id""",
            (seller_id, duration_seconds),
        ).fetchone()[0]
        self.videos[video_id] = (seller_id, duration_seconds)
        return video_id

    def ad(self, contract_start: dt.date, contract_end: dt.date) -> int:
        ad_id = self.conn.execute(
            """INSERT INTO ads (title, ad_url, duration_seconds, contract_start, contract_end, status)
               VALUES ('ad', 'https://example.com/ad', 15, %s, %s, 'ACTIVE') RETURNING id""",
            (contract_start, contract_end),
        ).fetchone()[0]
        self.ads[ad_id] = (contract_start, contract_end)
        return ad_id

    def event(self, kind: str, user_id: int, video_id: int, occurred_at: dt.datetime, watched_seconds: int = 0):
        self.conn.execute(
            """INSERT INTO watch_events (event_id, kind, user_id, video_id, occurred_at, watched_seconds)
               VALUES (%s, %s, %s, %s, %s, %s)""",
            (uuid.uuid4(), kind, user_id, video_id, occurred_at, watched_seconds),
        )
        self.events.append((kind, user_id, video_id, occurred_at, watched_seconds))

    def impression(self, user_id: int, video_id: int, ad_id: int, occurred_at: dt.datetime, times: int = 1):
        for _ in range(times):
            self.conn.execute(
                "INSERT INTO ad_impressions (event_id, user_id, video_id, ad_id, occurred_at) VALUES (%s, %s, %s, %s, %s)",
                (uuid.uuid4(), user_id, video_id, ad_id, occurred_at),
            )
            self.impressions.append((user_id, video_id, ad_id, occurred_at))

    def bulk_starts(self, video_id: int, day: dt.date, count: int) -> None:
        """`count` views of a video by `count` fresh users on a day, loaded set-based."""
        first_user = self.conn.execute(
            """INSERT INTO users (email, username, password_hash)
               SELECT 'bulk' || n || '-' || %s || '-' || %s || '@example.com', 'bulk', 'x'
               FROM generate_series(1, %s) AS n
               RETURNING id""",
            (video_id, day.isoformat(), count),
        ).fetchall()
        user_ids = [row[0] for row in first_user]
        start = at(day, 3)
        self.conn.execute(
            """INSERT INTO watch_events (event_id, kind, user_id, video_id, occurred_at, watched_seconds)
               SELECT gen_random_uuid(), 'START', u, %s, %s, 0 FROM unnest(%s::bigint[]) AS u""",
            (video_id, start, user_ids),
        )
        self.events.extend(("START", user_id, video_id, start, 0) for user_id in user_ids)


# The reference: SPEC.md's rules, event by event.


def platform_day(instant: dt.datetime) -> dt.date:
    return instant.astimezone(SEOUL).date()


SLACK_SECONDS = 10  # Settings.quality_watched_slack_seconds


def counted_events(events):
    """(kind, video_id, occurred_at, watched, previous_at) of the events that pass the quality gate:
    never more seconds watched than passed since the pair's previous event (of any kind), plus slack;
    with no previous event within the view window before the event's day, since that window's start.
    (Scenario events are all of known, active videos and none claims a future time.)"""
    by_pair = defaultdict(list)
    for kind, user_id, video_id, occurred_at, watched in events:
        by_pair[(user_id, video_id)].append((occurred_at, kind, watched))
    for (user_id, video_id), pair_events in by_pair.items():
        pair_events.sort()
        previous = None
        for occurred_at, kind, watched in pair_events:
            day = platform_day(occurred_at)
            reach = dt.datetime(day.year, day.month, day.day, tzinfo=SEOUL) - WINDOW
            elapsed = (occurred_at - (previous if previous and previous > reach else reach)).total_seconds()
            if 0 <= watched <= SLACK_SECONDS + elapsed:
                yield kind, video_id, occurred_at, watched, previous
            previous = occurred_at


def reference_views(events) -> dict[tuple[dt.date, int], int]:
    """(day, video) -> views: a START is a view when its pair had no event in the 48 h before it."""
    views = defaultdict(int)
    for kind, video_id, occurred_at, _, previous in counted_events(events):
        if kind == "START" and (previous is None or previous <= occurred_at - WINDOW):
            views[(platform_day(occurred_at), video_id)] += 1
    return views


def reference_watch_seconds(events) -> dict[tuple[dt.date, int], int]:
    seconds = defaultdict(int)
    for _, video_id, occurred_at, watched, _ in counted_events(events):
        seconds[(platform_day(occurred_at), video_id)] += watched
    return seconds


def graduated(views_before: int, views: int, tiers) -> Decimal:
    """Price position by position (slow on purpose: an independent check of the tier arithmetic)."""
    bounds = [lower for lower, _ in tiers]
    total = Decimal(0)
    for position in range(views_before, views_before + views):
        tier = max(index for index, lower in enumerate(bounds) if lower <= position)
        total += tiers[tier][1]
    return total


def reference_settlement(p: Platform, days: list[dt.date]) -> tuple[dict, dict]:
    """(day, video) -> expected fct_video_daily row; (day, video, ad) -> expected fct_video_ad_daily row."""
    views, watched = reference_views(p.events), reference_watch_seconds(p.events)
    ad_views = defaultdict(int)
    for _, video_id, ad_id, occurred_at in p.impressions:
        ad_views[(platform_day(occurred_at), video_id, ad_id)] += 1

    pairs = {}
    for (day, video_id, ad_id), count in ad_views.items():
        if day not in days:
            continue
        contract_start, contract_end = p.ads[ad_id]
        # SPEC: an expired ad stops earning from its end date on: the contract is [start, end).
        earning = p.videos[video_id][1] >= 300 and contract_start <= day < contract_end
        pairs[(day, video_id, ad_id)] = {"ad_views": count, "ad_payout": int(graduated(0, count, AD_TIERS)) if earning else 0}

    videos, lifetime = {}, defaultdict(int)
    for day in sorted(days):
        active = {video for (d, video) in views if d == day} | {video for (d, video) in watched if d == day}
        active |= {video for (d, video, _) in pairs if d == day}
        for video_id in sorted(active):
            before, today = lifetime[video_id], views.get((day, video_id), 0)
            video_payout = int(graduated(before, today, VIDEO_TIERS))
            ad_payout = sum(row["ad_payout"] for (d, vid, _), row in pairs.items() if d == day and vid == video_id)
            videos[(day, video_id)] = {
                "seller_id": p.videos[video_id][0],
                "views": today,
                "watch_seconds": watched.get((day, video_id), 0),
                "cumulative_views_before": before,
                "cumulative_views_through": before + today,
                "ad_views": sum(row["ad_views"] for (d, vid, _), row in pairs.items() if d == day and vid == video_id),
                "video_payout": video_payout,
                "ad_payout": ad_payout,
                "payout": video_payout + ad_payout,
            }
        for video_id in active:
            lifetime[video_id] += views.get((day, video_id), 0)
    return videos, pairs
