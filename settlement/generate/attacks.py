"""Attack traffic: a share of each day's events (GenerateConfig.attack_share) that the quality gate must
turn down, or that earns nothing (SPEC.md, "What does not count"):

- bursts: PROGRESS reports milliseconds apart, each claiming the slack's worth of seconds watched, on
  pairs with no counted event within the view window. Granted per event, the slack would add up; the
  watch credit grants it once: a burst's first report counts (the slack's seconds, and no view: there is
  no START), every later one is turned down (implausible_watch).
- seeks: lone PROGRESS reports whose playhead jumped past ad slots with nothing played, each with an
  impression claimed for every filled slot it jumped (slot_not_played). The reports themselves count,
  with no seconds watched and no view.
- copies: events sent again under a recorded (user_id, event_id), as they were or claiming more seconds;
  the registry turns them away into duplicate_events, as record_watch_event() does (duplicate_event).
- self-views: sellers' sessions on their own videos, with the impressions of the slots they play (self_view).
- values at the limits of their types: positions and seconds watched at the integer limits, videos and
  ads at the bigint limits, slots at the integer limits (implausible_watch, unknown_video, unknown_ad,
  unknown_slot).

Bursts, seeks and the values at the limits come from accounts of their own (users named attacker-<id>),
so none of them lends credit to an honest viewer's pair or takes any from it. The attack has its own
random stream: the honest events of a day with a share of attack are those of the day with share 0 and
that many fewer events, and they earn the same.
"""

import math
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import psycopg

from settlement.config import CommonSettings
from settlement.generate.catalog import PLACEHOLDER_PASSWORD_HASH, Attackers, Catalog, draw, reserve_ids
from settlement.generate.codec import encode_watch_rows, numbered_uuids
from settlement.generate.config import GenerateConfig
from settlement.generate.rows import PROGRESS, START, STOP, AdImpressions, Day, WatchEvents
from settlement.generate.sessions import Sessions, exact_sessions, received_after, session_events, sessions_of

# How the day's attack traffic divides among its kinds (shares of its events).
ATTACK_MIX = {"burst": 0.35, "seek": 0.15, "copy": 0.2, "self_view": 0.2, "limits": 0.1}
BURST_REPORTS = (20, 60)  # reports in one burst, both included
BURST_GAP_US = (1_000, 10_000)  # between two reports of a burst: 1 to 10 ms
BURSTS_PER_ATTACKER = 10  # one account's bursts in a day, each on a video of its own
SIDE_EVENTS_PER_ATTACKER = 100  # seeks and values at the limits, per account and day
COPY_DELAY_US = (1_000_000, 3_600_000_000)  # a copy arrives 1 s to 1 h after its event did
CLAIMING_MORE_SHARE = 0.5  # copies that claim more seconds watched than the event they copy
CLAIMED_MORE_SECONDS = 3_600

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
CATALOG = None  # in the tables below: a video (or ad) of the catalog
# Watch events no client could honestly send: (kind, video, position, watched).
LIMIT_EVENTS = (
    (PROGRESS, CATALOG, INT_MAX, INT_MAX),
    (PROGRESS, CATALOG, INT_MIN, INT_MIN),
    (START, CATALOG, 0, INT_MAX),
    (PROGRESS, CATALOG, INT_MAX, 0),
    (STOP, CATALOG, 0, INT_MIN),
    (START, BIGINT_MAX, 0, 0),
    (PROGRESS, BIGINT_MIN, INT_MAX, INT_MAX),
)
# And impressions, one beside each of those events: (video, ad, slot).
LIMIT_IMPRESSIONS = (
    (CATALOG, CATALOG, INT_MAX),
    (CATALOG, CATALOG, INT_MIN),
    (CATALOG, BIGINT_MAX, 1),
    (BIGINT_MAX, CATALOG, 1),
    (CATALOG, BIGINT_MIN, 0),
)


def attack_counts(share: float, events: int) -> dict[str, int]:
    """How many of a day's `events` are attack traffic, by kind (ATTACK_MIX; what rounding leaves goes to bursts)."""
    total = round(share * events)
    counts = {kind: int(total * weight) for kind, weight in ATTACK_MIX.items()}
    counts["burst"] += total - sum(counts.values())
    return counts


# ---------------------------------------------------------------------------------------------------
# The accounts


def create_attackers(conn: psycopg.Connection, config: GenerateConfig, settings: CommonSettings, catalog: Catalog) -> None:
    """Inserts the accounts the attack needs on its busiest day into catalog.attackers. Bursts take turns
    by day in groups, one group more than the view window has days, and no account bursts on a video
    twice in a day: every burst meets a pair with no counted event within the window."""
    most = {
        kind: max(attack_counts(config.attack_share, config.events_on(n))[kind] for n in range(config.days))
        for kind in ATTACK_MIX
    }
    bursts_at_most = most["burst"] // BURST_REPORTS[0] + 1
    per_group = math.ceil(bursts_at_most / min(len(catalog.video_ids), BURSTS_PER_ATTACKER))
    groups = math.ceil(settings.view_window_hours / 24) + 1
    others = max(1, math.ceil((most["seek"] + most["limits"]) / SIDE_EVENTS_PER_ATTACKER))
    ids = reserve_ids(conn, "users", groups * per_group + others)
    conn.execute(
        """
        INSERT INTO users (id, email, username, password_hash, role, created_at) OVERRIDING SYSTEM VALUE
        SELECT a.id, 'synthetic-attacker-' || a.id || '@example.com', 'attacker-' || a.id, %(password_hash)s,
               'USER', %(first_day)s::date::timestamp AT TIME ZONE %(tz)s - interval '1 day'
        FROM unnest(%(ids)s::bigint[]) AS a (id)
        """,
        {
            "ids": ids.tolist(),
            "password_hash": PLACEHOLDER_PASSWORD_HASH,
            "first_day": config.first_day,
            "tz": settings.time_zone,
        },
    )
    catalog.attackers = Attackers(
        burst_groups=ids[: groups * per_group].reshape(groups, per_group),
        others=ids[groups * per_group :],
        slack_seconds=settings.watched_slack_seconds,
    )
    catalog.rows["users"] += len(ids)


# ---------------------------------------------------------------------------------------------------
# A day of attack


@dataclass
class AttackDay:
    """The day's attack traffic: its stored events in time order (merged into the honest chunks as they
    come), its impressions, and how many copies of the day's stored events are to be sent again."""

    rng: np.random.Generator
    events: WatchEvents
    received_us: np.ndarray
    impressions: AdImpressions
    impressions_received_us: np.ndarray
    copies: int
    merged: int = 0  # events already handed to a chunk
    copy_numbers: np.ndarray | None = None  # which of the day's stored events are copied, ascending

    @property
    def total(self) -> int:
        return len(self.events) + self.copies

    def merged_until(self, events: WatchEvents, received_us: np.ndarray, until_us: int) -> tuple[WatchEvents, np.ndarray]:
        """The honest chunk with the attack's events before until_us that no chunk took yet, in time order."""
        end = int(np.searchsorted(self.events.occurred_us, until_us))
        if end == self.merged:
            return events, received_us
        taken = slice(self.merged, end)
        self.merged = end
        return in_time_order(
            WatchEvents.concat([events, self.events.take(taken)]), np.concatenate([received_us, self.received_us[taken]])
        )

    def choose_copies(self, stored: int) -> None:
        """Which of the day's `stored` events get sent again (one may be sent more than once)."""
        self.copy_numbers = np.sort(self.rng.integers(0, stored, self.copies)) if stored else np.zeros(0, np.int64)

    def copies_of(self, events: WatchEvents, received_us: np.ndarray, first: int, counter: int, salt: int) -> tuple[bytes, int]:
        """COPY data (the watch events' columns) of the copies of this chunk's events, the day's stored
        events first .. first + len(events) - 1, whose ids were numbered from counter; and how many."""
        if self.copy_numbers is None:
            raise RuntimeError("choose_copies() first: which events are copied is not drawn yet")
        low, high = np.searchsorted(self.copy_numbers, [first, first + len(events)])
        rows = self.copy_numbers[low:high] - first
        if not len(rows):
            return b"", 0
        copies = events.take(rows)
        claiming_more = self.rng.random(len(rows)) < CLAIMING_MORE_SHARE
        copies.watched = np.where(claiming_more, np.minimum(copies.watched + CLAIMED_MORE_SECONDS, INT_MAX), copies.watched)
        received = received_us[rows] + self.rng.integers(*COPY_DELAY_US, len(rows))
        ids = numbered_uuids(copies.occurred_us, counter + rows, salt, table=0)
        return encode_watch_rows(copies, received, ids), len(rows)

    def impressions_merged(self, impressions: AdImpressions, received_us: np.ndarray) -> tuple[AdImpressions, np.ndarray]:
        return in_time_order(
            AdImpressions.concat([impressions, self.impressions]),
            np.concatenate([received_us, self.impressions_received_us]),
        )


TimedRows = TypeVar("TimedRows", WatchEvents, AdImpressions)


def in_time_order(rows: TimedRows, received_us: np.ndarray) -> tuple[TimedRows, np.ndarray]:
    order = np.argsort(rows.occurred_us, kind="stable")
    return rows.take(order), received_us[order]


def plan_attack(config: GenerateConfig, catalog: Catalog, day: Day) -> AttackDay:
    rng = np.random.default_rng([config.seed, 2, catalog.event_salt, day.index])
    counts = attack_counts(config.attack_share, config.events_on(day.index))
    attackers = catalog.attackers
    if attackers is None:
        raise RuntimeError("create_attackers() first: the catalog has no attack accounts")
    group = attackers.burst_groups[day.index % len(attackers.burst_groups)]
    parts = [
        (bursts(rng, counts["burst"], catalog, day, group, attackers.slack_seconds), AdImpressions.empty()),
        seeks(rng, counts["seek"], catalog, day, attackers.others),
        self_views(rng, counts["self_view"], catalog, day),
        limit_values(rng, counts["limits"], catalog, day, attackers.others),
    ]
    events = WatchEvents.concat([part[0] for part in parts])
    events, received = in_time_order(events, received_after(rng, events.occurred_us))
    impressions = AdImpressions.concat([part[1] for part in parts])
    impressions, impressions_received = in_time_order(impressions, received_after(rng, impressions.occurred_us))
    return AttackDay(rng, events, received, impressions, impressions_received, counts["copy"])


def bursts(rng: np.random.Generator, events: int, catalog: Catalog, day: Day, accounts: np.ndarray, slack: int) -> WatchEvents:
    """Bursts of 20-60 PROGRESS reports 1-10 ms apart, each claiming `slack` seconds more play. Burst
    k comes from account k % len(accounts), on a video no earlier burst of that account played today."""
    if not events:
        return WatchEvents.empty()
    sizes = rng.integers(BURST_REPORTS[0], BURST_REPORTS[1] + 1, events // BURST_REPORTS[0] + 1)
    through = np.cumsum(sizes)
    count = int(np.searchsorted(through, events)) + 1
    sizes = sizes[:count]
    sizes[-1] -= through[count - 1] - events
    burst = np.arange(count)
    account = burst % len(accounts)
    first_video = rng.integers(0, len(catalog.video_ids), len(accounts))
    video = (first_video[account] + burst // len(accounts)) % len(catalog.video_ids)
    starts = rng.integers(0, day.seconds * 1_000_000 - sizes * BURST_GAP_US[1])
    first_position = rng.integers(0, np.maximum(catalog.durations[video] - sizes * slack, 0) + 1)

    of = np.repeat(burst, sizes)
    first_report = np.cumsum(sizes) - sizes
    step = np.arange(events) - first_report[of]
    gaps = np.where(step > 0, rng.integers(*BURST_GAP_US, events), 0)
    elapsed = np.cumsum(gaps)
    elapsed -= elapsed[first_report][of]
    return WatchEvents(
        occurred_us=day.start_us + starts[of] + elapsed,
        user_id=accounts[account][of],
        video_id=catalog.video_ids[video][of],
        position=first_position[of] + (step + 1) * slack,
        watched=np.full(events, slack, dtype=np.int64),
        kind=np.full(events, PROGRESS),
    )


def seeks(
    rng: np.random.Generator, events: int, catalog: Catalog, day: Day, accounts: np.ndarray
) -> tuple[WatchEvents, AdImpressions]:
    """Lone PROGRESS reports that landed past one slot or more with nothing played (videos with filled
    slots, when there are), each with an impression for every filled slot it jumped."""
    with_slots = np.flatnonzero(catalog.slot_count > 0)
    videos = with_slots if len(with_slots) else np.arange(len(catalog.video_ids))
    video = videos[rng.integers(0, len(videos), events)]
    duration = catalog.durations[video]
    position = rng.integers(np.minimum(catalog.slot_seconds, duration), duration + 1)
    occurred_us = day.start_us + rng.integers(0, day.seconds * 1_000_000, events)
    user_id = accounts[rng.integers(0, len(accounts), events)]
    jumped = np.minimum(catalog.slot_count[video], position // catalog.slot_seconds)
    seek = np.repeat(np.arange(events), jumped)
    slot = np.arange(int(jumped.sum())) - (np.cumsum(jumped) - jumped)[seek] + 1
    ad_id = catalog.slot_ads[catalog.slot_start[video[seek]] + slot - 1]
    watch_events = WatchEvents(
        occurred_us=occurred_us,
        user_id=user_id,
        video_id=catalog.video_ids[video],
        position=position,
        watched=np.zeros(events, dtype=np.int64),
        kind=np.full(events, PROGRESS),
    )
    impressions = AdImpressions(
        occurred_us=occurred_us[seek],
        user_id=user_id[seek],
        video_id=catalog.video_ids[video[seek]],
        ad_id=ad_id,
        slot=slot,
    )
    return watch_events, impressions.take(ad_id > 0)


def self_views(rng: np.random.Generator, events: int, catalog: Catalog, day: Day) -> tuple[WatchEvents, AdImpressions]:
    """Sessions of sellers on their own videos (popular ones more often), with their impressions."""

    def sellers_sessions(count: int) -> Sessions:
        video = draw(rng, catalog.video_cdf, count)
        return sessions_of(rng, catalog.video_sellers[video], video, np.zeros(count, dtype=np.int64), catalog)

    return session_events(rng, exact_sessions(rng, events, sellers_sessions, day.seconds), catalog, day)


def limit_values(
    rng: np.random.Generator, events: int, catalog: Catalog, day: Day, accounts: np.ndarray
) -> tuple[WatchEvents, AdImpressions]:
    """LIMIT_EVENTS in turn, each with one of LIMIT_IMPRESSIONS at its time, at random times of the day."""
    occurred_us = day.start_us + rng.integers(0, day.seconds * 1_000_000, events)
    user_id = accounts[rng.integers(0, len(accounts), events)]
    catalog_video = catalog.video_ids[rng.integers(0, len(catalog.video_ids), events)]
    filled = catalog.slot_ads[catalog.slot_ads > 0]
    catalog_ad = np.full(events, filled[0] if len(filled) else BIGINT_MAX, dtype=np.int64)
    kind, video, position, watched = zip(*LIMIT_EVENTS)
    row = np.arange(events) % len(LIMIT_EVENTS)
    watch_events = WatchEvents(
        occurred_us=occurred_us,
        user_id=user_id,
        video_id=column(video, row, catalog_video),
        position=column(position, row),
        watched=column(watched, row),
        kind=column(kind, row),
    )
    video, ad, slot = zip(*LIMIT_IMPRESSIONS)
    row = np.arange(events) % len(LIMIT_IMPRESSIONS)
    impressions = AdImpressions(
        occurred_us=occurred_us,
        user_id=user_id,
        video_id=column(video, row, catalog_video),
        ad_id=column(ad, row, catalog_ad),
        slot=column(slot, row),
    )
    return watch_events, impressions


def column(values: tuple[Any, ...], rows: np.ndarray, from_catalog: np.ndarray | None = None) -> np.ndarray:
    """A table's column for these of its rows, with from_catalog's values where it says CATALOG."""
    fixed: np.ndarray = np.array([0 if value is CATALOG else value for value in values], dtype=np.int64)[rows]
    if from_catalog is None:
        return fixed
    return np.where(np.array([value is CATALOG for value in values])[rows], from_catalog, fixed)
