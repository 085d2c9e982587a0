"""Playback events: each one is a watch_events row and moves the viewer's saved position.

One code path for a batch of a viewer's events (POST /playback/events) and for each single event
endpoint (a batch of one): the API checks the events' times here, then hands the whole batch to the
database's record_playback() in one statement (migration 0040), which refuses what it can tell at once
(an unknown video, one not playable or not live at the event's time, a position or watched seconds
beyond its length), locks the pairs' saved positions, registers the events' keys (a retry is
recognised by its key, the user's own event id, and changes nothing), stores the rows and moves the
saved positions as if the events had come one by one, in order. The ad impressions of the slots the
events' playing crossed go in with the same statement (record_ad_impressions()), their ids derived
from their event's; the statement also checks the caller's session: one round trip per request. The settlement's quality gate judges the rest, on the whole day's events.
"""

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from fastapi import HTTPException
from psycopg import AsyncConnection, pq
from psycopg.rows import DictRow, tuple_row
from pydantic import TypeAdapter

from api.auth.dependencies import INVALID_TOKEN, Session
from api.auth.service import LIVE_SESSION_USER, session_is_live
from api.config import ApiSettings
from api.errors import conflict, invalid, not_found, unauthorized
from api.playback.schemas import AdImpressionOut
from settlement import clock

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

    def __init__(self, settings: ApiSettings, now: dt.datetime) -> None:
        self.now, self.max_age_hours = now, settings.playback_max_event_age_hours
        self.latest = now + dt.timedelta(seconds=settings.clock_skew_seconds)
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


# One statement records a request's events: it checks the caller's session (LIVE_SESSION_USER:
# record_playback runs only for a live one, no row at all answers a session that ended), records the
# events (record_playback) and the ad impressions of the slots their playing crossed
# (record_ad_impressions). An impression's id derives from its event's (impression_id, uuid5: SHA-1,
# which PostgreSQL has no function for without an extension), so the API sends the ids of every slot each
# event may have crossed (candidates, below) and the statement takes those of the slots that had an ad.
# With autocommit, that is one round trip and one transaction per request.
#
# The events go as one JSON parameter (encoded by pydantic, in Rust), taken apart into the functions'
# arrays by the database: adapting six Python lists costs the API several times more, per request and
# per event. One event (every single endpoint's) has its fields as parameters of their own, cheaper for
# both sides.
EVENTS_JSON = TypeAdapter(list[Event])
BATCH_EVENTS = """
batch AS (
    SELECT * FROM ROWS FROM (jsonb_to_recordset(%(events)s::jsonb) AS (
        event_id uuid, kind text, video_id bigint, occurred_at timestamptz, position_seconds integer, watched_seconds integer
    )) WITH ORDINALITY AS e(event_id, kind, video_id, occurred_at, position_seconds, watched_seconds, ord)
)"""
BATCH_ARGUMENTS = """
    ARRAY(SELECT event_id FROM batch ORDER BY ord), ARRAY(SELECT kind FROM batch ORDER BY ord),
    ARRAY(SELECT video_id FROM batch ORDER BY ord), ARRAY(SELECT occurred_at FROM batch ORDER BY ord),
    ARRAY(SELECT position_seconds FROM batch ORDER BY ord), ARRAY(SELECT watched_seconds FROM batch ORDER BY ord)"""
ONE_EVENT = """
batch AS (SELECT 1::bigint AS ord, %(video_id)s::bigint AS video_id, %(occurred_at)s::timestamptz AS occurred_at)"""
ONE_EVENT_ARGUMENTS = """
    ARRAY[%(event_id)s::uuid], ARRAY[%(kind)s::text], ARRAY[%(video_id)s::bigint], ARRAY[%(occurred_at)s::timestamptz],
    ARRAY[%(position_seconds)s::integer], ARRAY[%(watched_seconds)s::integer]"""


# The session check, as api.auth.service.LIVE_SESSION_USER (written out here: SQL given to execute() is
# text of this module, tests/security/test_sql_is_parameterized.py; the two are held equal below).
LIVE_SESSION = """
    SELECT users.id FROM users
    WHERE users.id = %(user_id)s AND EXISTS (
        SELECT 1 FROM auth_sessions s WHERE s.id = %(session_id)s AND s.user_id = users.id AND s.expires_at > settlement_now()
    )
"""
if LIVE_SESSION != LIVE_SESSION_USER:
    raise RuntimeError("api.playback.service.LIVE_SESSION must be api.auth.service.LIVE_SESSION_USER")
ANSWERS = """
answers AS (
    SELECT r.*
    FROM viewer CROSS JOIN LATERAL record_playback(viewer.id, """
ANSWERED = """, %(view_window)s, %(slot_seconds)s)
        WITH ORDINALITY AS r(refusal, video_status, video_seconds, recorded, counts_as_view, saved_position, ad_slots, ad_ids, ord)
),
impressions AS (  -- an answered slot without its candidate id stays NULL: record_ad_impressions refuses it
    SELECT c.event_id, b.video_id, x.ad_id, x.slot, b.occurred_at, a.ord
    FROM answers a
    CROSS JOIN LATERAL unnest(a.ad_slots, a.ad_ids) AS x(slot, ad_id)
    JOIN batch b ON b.ord = a.ord
    LEFT JOIN unnest(%(candidate_ords)s::bigint[], %(candidate_slots)s::integer[], %(candidate_ids)s::uuid[])
        AS c(ord, slot, event_id) ON c.ord = a.ord AND c.slot = x.slot
    WHERE %(record_impressions)s
),
recorded_impressions AS (
    SELECT CASE WHEN EXISTS (SELECT FROM impressions) THEN record_ad_impressions(
        ARRAY(SELECT event_id FROM impressions ORDER BY ord, slot),
        ARRAY(SELECT %(user_id)s::bigint FROM impressions ORDER BY ord, slot),
        ARRAY(SELECT video_id FROM impressions ORDER BY ord, slot), ARRAY(SELECT ad_id FROM impressions ORDER BY ord, slot),
        ARRAY(SELECT slot FROM impressions ORDER BY ord, slot), ARRAY(SELECT occurred_at FROM impressions ORDER BY ord, slot)
    ) END AS new
)
SELECT a.refusal, a.video_status, a.video_seconds, a.recorded, a.counts_as_view, a.saved_position, a.ad_slots, a.ad_ids
FROM answers a CROSS JOIN recorded_impressions
ORDER BY a.ord
"""
RECORD_PLAYBACK = f"WITH viewer AS ({LIVE_SESSION}),{BATCH_EVENTS},{ANSWERS}{BATCH_ARGUMENTS}{ANSWERED}"
RECORD_ONE = f"WITH viewer AS ({LIVE_SESSION}),{ONE_EVENT},{ANSWERS}{ONE_EVENT_ARGUMENTS}{ANSWERED}"
# The impressions on their own, after the events in the same transaction: for a request whose events
# may cross more slots than it is worth sending the candidate ids of (MAX_CANDIDATES).
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


def crossed_slots(event: Event, slot_seconds: int) -> range:
    """The slots whose start the event's playing may have crossed, for their candidate ids: the database's
    ad_slots_crossed (migration 0062), which record_playback answers by, for a PROGRESS, without knowing
    which slots have an ad or whether the event is new (tests/test_ad_slot_rule.py checks the two agree)."""
    if event.kind != "PROGRESS" or not event.watched_seconds or event.position_seconds is None:  # (a PROGRESS has one)
        return range(0)
    first = max(1, (event.position_seconds - event.watched_seconds) // slot_seconds + 1)
    return range(first, event.position_seconds // slot_seconds + 1)


def max_candidates(events: int) -> int:
    """Candidate impression ids sent with a request at most: a player's reports cross a slot or two;
    events claiming hours of playing each would make the API hash ids by the hundred per event."""
    return 4 * events + 16


async def record(
    conn: AsyncConnection[DictRow], settings: ApiSettings, session: Session, events: Sequence[Event]
) -> list[Outcome]:
    """The outcome of each event, in order, recorded and committed on conn (outside a transaction: the
    recording statement is one); raises 401 when the caller's session has ended (and records nothing)."""
    window = TimeWindow(settings, clock.now())
    outcomes = [Outcome(event, refusal=window.refusal(event.occurred_at)) for event in events]
    sent = [outcome for outcome in outcomes if outcome.refusal is None]
    if not sent:
        if not await session_is_live(conn, session.user_id, session.session_id):
            raise unauthorized(INVALID_TOKEN)
        return outcomes
    slot_seconds = settings.ad_slot_seconds
    candidates: dict[tuple[int, int], uuid.UUID] = {}
    for ord, outcome in enumerate(sent, 1):
        for slot in crossed_slots(outcome.event, slot_seconds):
            candidates[ord, slot] = impression_id(outcome.event.event_id, slot)
            if len(candidates) > max_candidates(len(sent)):
                break
    in_one_statement = len(candidates) <= max_candidates(len(sent))
    if not in_one_statement:
        candidates = {}
    parameters = {
        "user_id": session.user_id,
        "session_id": session.session_id,
        "view_window": dt.timedelta(hours=settings.view_window_hours),
        "slot_seconds": slot_seconds,
        "record_impressions": in_one_statement,
        "candidate_ords": [ord for ord, _ in candidates],
        "candidate_slots": [slot for _, slot in candidates],
        "candidate_ids": list(candidates.values()),
    }
    if len(sent) == 1:
        event = sent[0].event
        parameters |= {
            "event_id": event.event_id,
            "kind": event.kind,
            "video_id": event.video_id,
            "occurred_at": event.occurred_at,
            "position_seconds": event.position_seconds,
            "watched_seconds": event.watched_seconds,
        }
    else:
        parameters["events"] = EVENTS_JSON.dump_json([o.event for o in sent]).decode()
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise RuntimeError("record() runs its own transaction: the connection must not be in one")
    await conn.set_autocommit(in_one_statement)
    try:
        cursor = conn.cursor(row_factory=tuple_row)
        if len(sent) == 1:
            await cursor.execute(RECORD_ONE, parameters)
        else:
            await cursor.execute(RECORD_PLAYBACK, parameters)
        rows = await cursor.fetchall()
    finally:
        await conn.set_autocommit(False)
    if not rows:  # the session has ended: record_playback did not run
        raise unauthorized(INVALID_TOKEN)
    impressions = []
    for ord, (outcome, row) in enumerate(zip(sent, rows, strict=True), 1):
        reason, status, length, recorded, counts_as_view, position, slots, ad_ids = row
        event = outcome.event
        if reason:
            outcome.refusal = refusal(reason, event, status, length)
            continue
        outcome.recorded, outcome.counts_as_view, outcome.position_seconds = recorded, counts_as_view, position
        for slot, ad_id in zip(slots or (), ad_ids or (), strict=True):
            event_id = candidates.get((ord, slot)) or impression_id(event.event_id, slot)
            outcome.ad_impressions.append(AdImpressionOut(event_id=event_id, slot=slot, ad_id=ad_id))
            impressions.append(
                {
                    "event_id": str(event_id),
                    "video_id": event.video_id,
                    "ad_id": ad_id,
                    "slot": slot,
                    "occurred_at": event.occurred_at.isoformat(),
                }
            )
    if impressions and not in_one_statement:
        await conn.execute(RECORD_AD_IMPRESSIONS, {"impressions": json.dumps(impressions), "user_id": session.user_id})
    await conn.commit()  # nothing to commit after the one statement
    return outcomes


async def record_one(conn: AsyncConnection[DictRow], settings: ApiSettings, session: Session, event: Event) -> Outcome:
    """A single event endpoint's event: a batch of one; a refusal is raised as that endpoint's answer."""
    (outcome,) = await record(conn, settings, session, [event])
    if outcome.refusal:
        raise outcome.refusal
    return outcome
