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

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from fastapi import HTTPException
from psycopg import AsyncConnection
from psycopg.rows import DictRow, tuple_row
from pydantic import TypeAdapter

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


class TimeWindow:
    """The times an event may have happened at, as of now: up to the allowed clock skew ahead of the
    server's clock, and no older than the maximum age."""

    def __init__(self, settings: Settings, now: dt.datetime) -> None:
        self.now, self.max_age_hours = now, settings.playback_max_event_age_hours
        self.latest = now + dt.timedelta(seconds=settings.playback_max_clock_skew_seconds)
        self.earliest = now - dt.timedelta(hours=settings.playback_max_event_age_hours)

    def refusal(self, occurred_at: dt.datetime) -> HTTPException | None:
        if occurred_at > self.latest:
            return invalid(("body", "occurred_at"), f"is in the future (server time {self.now.isoformat()})", str(occurred_at))
        if occurred_at < self.earliest:
            return invalid(
                ("body", "occurred_at"),
                f"is older than {self.max_age_hours} hours (server time {self.now.isoformat()})",
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


# The events go as one JSON parameter (encoded by pydantic, in Rust), taken apart into the functions'
# arrays by the database: adapting six Python lists costs the API several times more, per request and
# per event.
EVENTS_JSON = TypeAdapter(list[Event])
RECORD_PLAYBACK = """
WITH batch AS (
    SELECT * FROM ROWS FROM (jsonb_to_recordset(%(events)s::jsonb) AS (
        event_id uuid, kind text, video_id bigint, occurred_at timestamptz, position_seconds integer, watched_seconds integer
    )) WITH ORDINALITY AS e(event_id, kind, video_id, occurred_at, position_seconds, watched_seconds, ord)
)
SELECT refusal, video_status, video_seconds, recorded, counts_as_view, saved_position, ad_slots, ad_ids
FROM record_playback(
    %(user_id)s,
    ARRAY(SELECT event_id FROM batch ORDER BY ord), ARRAY(SELECT kind FROM batch ORDER BY ord),
    ARRAY(SELECT video_id FROM batch ORDER BY ord), ARRAY(SELECT occurred_at FROM batch ORDER BY ord),
    ARRAY(SELECT position_seconds FROM batch ORDER BY ord), ARRAY(SELECT watched_seconds FROM batch ORDER BY ord),
    %(view_window)s, %(slot_seconds)s
)
"""
# One event (every single endpoint's): its fields as parameters of their own, cheaper for both sides.
RECORD_ONE = """
SELECT refusal, video_status, video_seconds, recorded, counts_as_view, saved_position, ad_slots, ad_ids
FROM record_playback(
    %(user_id)s, ARRAY[%(event_id)s::uuid], ARRAY[%(kind)s::text], ARRAY[%(video_id)s::bigint],
    ARRAY[%(occurred_at)s::timestamptz], ARRAY[%(position_seconds)s::integer], ARRAY[%(watched_seconds)s::integer],
    %(view_window)s, %(slot_seconds)s
)
"""
RECORD_AD_IMPRESSIONS = """
WITH batch AS (
    SELECT * FROM ROWS FROM (jsonb_to_recordset(%(impressions)s::jsonb) AS (
        event_id uuid, video_id bigint, ad_id bigint, slot integer, occurred_at timestamptz
    )) WITH ORDINALITY AS i(event_id, video_id, ad_id, slot, occurred_at, ord)
)
SELECT record_ad_impressions(
    ARRAY(SELECT event_id FROM batch ORDER BY ord), ARRAY(SELECT %(user_id)s::bigint FROM batch ORDER BY ord),
    ARRAY(SELECT video_id FROM batch ORDER BY ord), ARRAY(SELECT ad_id FROM batch ORDER BY ord),
    ARRAY(SELECT slot FROM batch ORDER BY ord), ARRAY(SELECT occurred_at FROM batch ORDER BY ord)
)
"""


async def record(conn: AsyncConnection[DictRow], settings: Settings, user_id: int, events: Sequence[Event]) -> list[Outcome]:
    """The outcome of each event, in order; the recorded ones are written in conn's transaction."""
    window = TimeWindow(settings, clock.now())
    outcomes = [Outcome(event, refusal=window.refusal(event.occurred_at)) for event in events]
    sent = [outcome for outcome in outcomes if outcome.refusal is None]
    if not sent:
        return outcomes
    parameters = {
        "user_id": user_id,
        "view_window": dt.timedelta(hours=settings.view_window_hours),
        "slot_seconds": settings.ad_slot_interval_seconds,
    }
    cursor = conn.cursor(row_factory=tuple_row)
    if len(sent) == 1:
        await cursor.execute(RECORD_ONE, parameters | dataclasses.asdict(sent[0].event))
    else:
        await cursor.execute(RECORD_PLAYBACK, parameters | {"events": EVENTS_JSON.dump_json([o.event for o in sent]).decode()})
    impressions = []
    for outcome, row in zip(sent, await cursor.fetchall(), strict=True):
        reason, status, length, recorded, counts_as_view, position, slots, ad_ids = row
        event = outcome.event
        if reason:
            outcome.refusal = refusal(reason, event, status, length)
            continue
        outcome.recorded, outcome.counts_as_view, outcome.position_seconds = recorded, counts_as_view, position
        for slot, ad_id in zip(slots or (), ad_ids or (), strict=True):
            impression = AdImpressionOut(event_id=impression_id(event.event_id, slot), slot=slot, ad_id=ad_id)
            outcome.ad_impressions.append(impression)
            impressions.append({"event_id": str(impression.event_id), "video_id": event.video_id, "ad_id": ad_id,
                                "slot": slot, "occurred_at": event.occurred_at.isoformat()})
    if impressions:
        await conn.execute(RECORD_AD_IMPRESSIONS, {"impressions": json.dumps(impressions), "user_id": user_id})
    return outcomes


async def record_one(conn: AsyncConnection[DictRow], settings: Settings, user_id: int, event: Event) -> Outcome:
    """A single event endpoint's event: a batch of one; a refusal is raised as that endpoint's answer."""
    (outcome,) = await record(conn, settings, user_id, [event])
    if outcome.refusal:
        raise outcome.refusal
    return outcome
