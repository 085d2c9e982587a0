"""How honest viewers watch: who watches what, sessions in start order on the day's curve (a START,
progress every ~30-60 s of play, maybe a PAUSE and a break, a STOP), viewers coming back to a video on
later days, and ad impressions where the play passes a filled slot."""

import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from settlement.generate.catalog import Catalog, draw
from settlement.generate.rows import DAY_US, PAUSE, PROGRESS, START, STOP, AdImpressions, Columns, Day, WatchEvents

log = logging.getLogger(__name__)

# What synthetic viewing looks like. Shapes of made-up data, not product rules.
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
HOURLY_CURVE = np.array([9, 6, 4, 3, 2.5, 3, 5, 8, 10, 10, 11, 12, 13, 12, 11, 11, 12, 14, 17, 20, 23, 24, 20, 14], dtype=float)
ESTIMATED_EVENTS_PER_SESSION = 8.0

CHUNK_EVENTS = 250_000  # events per COPY write; also bounds the generator's working memory


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
        end: np.ndarray = self.start_position + self.played
        return end


@dataclass
class History:
    """Recent days' sessions, for viewers who come back to a video."""

    days: list[Sessions] = field(default_factory=list)

    def remember(self, sessions: Sessions) -> None:
        self.days = [sessions, *self.days][: max(RETURN_LAG_DAYS)]


def draw_sessions(rng: np.random.Generator, count: int, catalog: Catalog, history: History) -> Sessions:
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
    return sessions_of(rng, user, video, start_position, catalog)


def sessions_of(
    rng: np.random.Generator, user: np.ndarray, video: np.ndarray, start_position: np.ndarray, catalog: Catalog
) -> Sessions:
    """Sessions of these (user, video) pairs from these positions: how long each one plays (a share
    to the end, the others some of what is left), reported every ~45 s of play; not yet scheduled."""
    count = len(user)
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


def plan_day(rng: np.random.Generator, events: int, catalog: Catalog, history: History, day_seconds: int) -> Sessions:
    """Sessions with exactly `events` events in all (the last one drawn is cut short), in start order."""
    sessions = exact_sessions(rng, events, lambda count: draw_sessions(rng, count, catalog, history), day_seconds)
    one_session_at_a_time(rng, sessions, catalog)
    return sessions.take(np.argsort(sessions.start_us, kind="stable"))


def exact_sessions(rng: np.random.Generator, events: int, draw_part: Callable[[int], Sessions], day_seconds: int) -> Sessions:
    """Sessions of draw_part(count) until they have exactly `events` events in all (the last one drawn is
    cut short), scheduled on the day."""
    parts, total, per_session = [], 0, ESTIMATED_EVENTS_PER_SESSION
    while total < events:
        part = draw_part(int((events - total) / per_session * 1.05) + 16)
        parts.append(part)
        total += int(part.events.sum())
        per_session = total / sum(len(p) for p in parts)
    if not parts:
        return draw_part(0)
    sessions = Sessions.concat(parts)
    through = np.cumsum(sessions.events)
    last = int(np.searchsorted(through, events))
    sessions = sessions.take(slice(0, last + 1))
    reports = int(sessions.reports[last] - (through[last] - events))
    sessions.played[last] = sessions.played[last] * reports // sessions.reports[last]
    sessions.reports[last] = reports  # 0 leaves a lone START: a client that died right away
    schedule(rng, sessions, day_seconds)
    return sessions


def schedule(rng: np.random.Generator, sessions: Sessions, day_seconds: int) -> None:
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


def one_session_at_a_time(rng: np.random.Generator, sessions: Sessions, catalog: Catalog, rounds: int = 20) -> None:
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


def session_events(rng: np.random.Generator, sessions: Sessions, catalog: Catalog, day: Day) -> tuple[WatchEvents, AdImpressions]:
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


def day_events(
    rng: np.random.Generator, sessions: Sessions, catalog: Catalog, day: Day
) -> Iterator[tuple[WatchEvents, AdImpressions, int]]:
    """The day's watch events in time order, chunk by chunk, with the ad impressions of each chunk's
    sessions and the time (microseconds, as occurred_us) before which the day has no other event: the
    next chunk's first start, or the day's end. Sessions are in start order, so no later chunk has an
    event before the next chunk's first start: events up to it are final, the rest wait for the next chunk."""
    waiting = None
    bounds = chunk_bounds(sessions.events, CHUNK_EVENTS)
    for low, high in itertools.pairwise(bounds):
        events, impressions = session_events(rng, sessions.take(slice(low, high)), catalog, day)
        if waiting is not None:
            events = WatchEvents.concat([waiting, events])
        events = events.take(np.argsort(events.occurred_us, kind="stable"))
        if high == len(sessions):
            final, until_us = len(events), day.start_us + day.seconds * 1_000_000
        else:
            until_us = day.start_us + int(sessions.start_us[high])
            final = int(np.searchsorted(events.occurred_us, until_us))
        yield events.take(slice(0, final)), impressions, until_us
        waiting = events.take(slice(final, None))


def received_after(rng: np.random.Generator, occurred_us: np.ndarray) -> np.ndarray:
    """When the platform received each event: a moment after it happened (clients report as they play)."""
    received_us: np.ndarray = occurred_us + rng.integers(*RECEIVE_DELAY_US, len(occurred_us))
    return received_us
