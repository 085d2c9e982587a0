"""Playback events: each one is a watch_events row and moves the viewer's saved position.

One code path for a batch of a viewer's events (POST /playback/events) and for each single event
endpoint (a batch of one): the API checks the events' times here, then hands the whole batch to the
database's record_playback() in one statement (migration 0040), which refuses what it can tell at once
(an unknown video, one not playable or not live at the event's time, a position or watched seconds
beyond its length), locks the pairs' saved positions, registers the events' keys (a retry is
recognised by its key, the user's own event id, and changes nothing), stores the rows and moves the
saved positions as if the events had come one by one, in order. The ad impressions of the slots the
events' playing crossed go in with a second statement (record_ad_impressions()), their ids derived
from their event's. The settlement's quality gate judges the rest, on the whole day's events.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from fastapi import HTTPException
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.errors import conflict, invalid, not_found
from api.playback.schemas import AdImpressionOut
from settlement import clock
from settlement.config import Settings

Kind = Literal["START", "PROGRESS", "PAUSE", "STOP"]


@dataclass(frozen=True)
class Event:
    """One playback event of the calling viewer; a START has no position and no watched seconds."""

    video_id: int
    kind: Kind
    event_id: uuid.UUID
    occurred_at: dt.datetime
    position_seconds: int | None = None
    watched_seconds: int | None = None


@dataclass
class Outcome:
    event: Event
    refusal: HTTPException | None = None  # what the single event endpoint raises
    recorded: bool = False  # False (and not refused): a copy of a recorded event
    counts_as_view: bool = False
    position_seconds: int = 0  # a START: where it resumes; the others: the saved position
    ad_impressions: list[AdImpressionOut] = field(default_factory=list)

    @property
    def status(self) -> Literal["recorded", "duplicate", "refused"]:
        return "refused" if self.refusal else "recorded" if self.recorded else "duplicate"


def time_refusal(settings: Settings, now: dt.datetime, occurred_at: dt.datetime) -> HTTPException | None:
    skew = dt.timedelta(seconds=settings.playback_max_clock_skew_seconds)
    max_age = dt.timedelta(hours=settings.playback_max_event_age_hours)
    if occurred_at > now + skew:
        return invalid(("body", "occurred_at"), f"is in the future (server time {now.isoformat()})", str(occurred_at))
    if occurred_at < now - max_age:
        return invalid(
            ("body", "occurred_at"),
            f"is older than {settings.playback_max_event_age_hours} hours (server time {now.isoformat()})",
            str(occurred_at),
        )
    return None


def refusal(reason: str, event: Event, status: str | None, length: int | None) -> HTTPException:
    """The answer of record_playback's refusal reason, as the single endpoints have always given it."""
    if reason == "unknown_video":
        return not_found(f"no video {event.video_id}")
    if reason == "not_playable":
        return conflict(f"video {event.video_id} is not playable (status {status})")
    if reason == "past_the_end":
        return invalid(("body", "position_seconds"), f"is past the end of the video ({length} s)", event.position_seconds)
    if reason == "more_than_the_video":
        return invalid(("body", "watched_seconds"), f"is more than the whole video ({length} s)", event.watched_seconds)
    if reason == "not_live":
        return conflict(f"video {event.video_id} was not live at {event.occurred_at.isoformat()}")
    raise ValueError(f"record_playback refused an event for an unknown reason {reason!r}")


def impression_id(event_id: uuid.UUID, slot: int) -> uuid.UUID:
    """An impression's id derives from its event's: a replay cannot record it twice."""
    return uuid.uuid5(event_id, f"ad-slot-{slot}")


RECORD_PLAYBACK = """
SELECT refusal, video_status, video_seconds, recorded, counts_as_view, saved_position, ad_slots, ad_ids
FROM record_playback(%s, %s::uuid[], %s::text[], %s::bigint[], %s::timestamptz[], %s::integer[], %s::integer[], %s, %s)
"""
RECORD_AD_IMPRESSIONS = (
    "SELECT record_ad_impressions(%s::uuid[], %s::bigint[], %s::bigint[], %s::bigint[], %s::integer[], %s::timestamptz[])"
)


async def record(conn: AsyncConnection[DictRow], settings: Settings, user_id: int, events: Sequence[Event]) -> list[Outcome]:
    """The outcome of each event, in order; the recorded ones are written in conn's transaction."""
    now = clock.now()
    outcomes = [Outcome(event, refusal=time_refusal(settings, now, event.occurred_at)) for event in events]
    sent = [outcome for outcome in outcomes if outcome.refusal is None]
    if not sent:
        return outcomes
    cursor = await conn.execute(
        RECORD_PLAYBACK,
        (
            user_id,
            [outcome.event.event_id for outcome in sent],
            [outcome.event.kind for outcome in sent],
            [outcome.event.video_id for outcome in sent],
            [outcome.event.occurred_at for outcome in sent],
            [outcome.event.position_seconds for outcome in sent],
            [outcome.event.watched_seconds for outcome in sent],
            dt.timedelta(hours=settings.view_window_hours),
            settings.ad_slot_interval_seconds,
        ),
    )
    impressions: list[tuple[Event, AdImpressionOut]] = []
    for outcome, row in zip(sent, await cursor.fetchall(), strict=True):
        event = outcome.event
        if row["refusal"]:
            outcome.refusal = refusal(row["refusal"], event, row["video_status"], row["video_seconds"])
            continue
        outcome.recorded = row["recorded"]
        outcome.counts_as_view = row["counts_as_view"]
        outcome.position_seconds = row["saved_position"]
        for slot, ad_id in zip(row["ad_slots"] or (), row["ad_ids"] or (), strict=True):
            impression = AdImpressionOut(event_id=impression_id(event.event_id, slot), slot=slot, ad_id=ad_id)
            outcome.ad_impressions.append(impression)
            impressions.append((event, impression))
    if impressions:
        await conn.execute(
            RECORD_AD_IMPRESSIONS,
            (
                [impression.event_id for _, impression in impressions],
                [user_id] * len(impressions),
                [event.video_id for event, _ in impressions],
                [impression.ad_id for _, impression in impressions],
                [impression.slot for _, impression in impressions],
                [event.occurred_at for event, _ in impressions],
            ),
        )
    return outcomes


async def record_one(conn: AsyncConnection[DictRow], settings: Settings, user_id: int, event: Event) -> Outcome:
    """A single event endpoint's event: a batch of one; a refusal is raised as that endpoint's answer."""
    (outcome,) = await record(conn, settings, user_id, [event])
    if outcome.refusal:
        raise outcome.refusal
    return outcome
