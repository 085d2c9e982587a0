"""Generated histories, not chosen ones (issue 21): hypothesis writes a few (user, video) pairs' events over
3 to 6 days, aimed at the rules' edges, and the engine's verdict on every event and every payout must be
the independent reference's (tests/engine/scenario.py, SPEC.md's rules event by event).

The edges: bursts of events milliseconds apart, seconds watched at the watch credit and one past it,
midnight on either side of a slot's crossing and its impression, gaps of exactly the view window and a
second either side, replays and seeks, copies of ids across days and users, events around a video's live
span, self-views, values at the limits of their type, clocks ahead of the arrival."""

import datetime as dt
import uuid

import psycopg
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from settlement import pipeline
from settlement.config import EngineSettings
from tests.conftest import empty_database
from tests.engine.scenario import (
    SLACK,
    SLOT_SECONDS,
    WINDOW,
    Platform,
    at,
    judge_ad_impressions,
    judge_watch_events,
    reference_settlement,
)
from tests.hypothesis_profiles import examples

D0 = dt.date(2026, 11, 9)  # a Monday; the histories end by Sunday the 15th
INT_MAX, INT_MIN = 2**31 - 1, -(2**31)
MS = dt.timedelta(milliseconds=1)

# The catalog every history plays in: (name, seller, seconds, live from, live until)
VIDEOS = [
    ("short", "seller_a", 240, None, None),  # no ad slot
    ("mid", "seller_a", 900, None, None),  # 2 slots
    ("long", "seller_b", 2400, None, None),  # 7 slots; slot 3 holds an ad that expires on D0 + 2
    ("born", "seller_b", 900, at(D0 + dt.timedelta(days=1), 12), None),  # goes live on D0 + 1 at noon
    ("gone", "seller_a", 900, None, at(D0 + dt.timedelta(days=2), 8)),  # taken down on D0 + 2 at 08:00
]
USERS = ["u1", "u2", "u3", "seller_a", "seller_b"]

ANCHORS = [dt.time(0, 0, 0), dt.time(0, 0, 4), dt.time(9, 0), dt.time(12, 0), dt.time(23, 59, 50), dt.time(23, 59, 58)]
GAPS = [
    MS,
    5 * MS,
    dt.timedelta(seconds=1),
    dt.timedelta(seconds=9),
    dt.timedelta(seconds=10),
    dt.timedelta(seconds=11),
    dt.timedelta(seconds=30),
    dt.timedelta(minutes=5),
    dt.timedelta(hours=23, minutes=59, seconds=59),
    WINDOW - dt.timedelta(seconds=1),
    WINDOW,
    WINDOW + dt.timedelta(seconds=1),
]


@st.composite
def watch_history(draw, days: int):
    """One pair's events: a start somewhere in the days, then events after gaps, each claiming seconds
    watched around what the time since the previous one allows, playing on or seeking."""
    user, video = draw(st.sampled_from(USERS)), draw(st.sampled_from([name for name, *_ in VIDEOS]))
    duration = next(seconds for name, _, seconds, *_ in VIDEOS if name == video)
    when = at(D0 + dt.timedelta(days=draw(st.integers(0, days - 1))), 0) + dt.timedelta(
        hours=(anchor := draw(st.sampled_from(ANCHORS))).hour, minutes=anchor.minute, seconds=anchor.second
    )
    position, events = draw(st.sampled_from([0, SLOT_SECONDS - 20, 2 * SLOT_SECONDS - 5])) % (duration + 1), []
    for n in range(draw(st.integers(1, 8))):
        gap = dt.timedelta(0) if n == 0 else draw(st.sampled_from(GAPS))
        when += gap
        kind = "START" if n == 0 and draw(st.booleans()) else draw(st.sampled_from(["START", "PROGRESS", "PAUSE", "STOP"]))
        allowed = int(gap.total_seconds()) + int(SLACK.total_seconds())
        watched = draw(st.one_of(
            st.sampled_from([0, 10, 11, allowed, allowed + 1, max(0, allowed - 1)]),
            st.integers(0, duration),
            st.sampled_from([-1, duration + 1, INT_MIN, INT_MAX]),
        ))  # fmt: skip
        if draw(st.integers(0, 4)) == 0:  # a seek: the playhead moves with nothing played
            position = draw(st.sampled_from([0, SLOT_SECONDS - 1, SLOT_SECONDS, SLOT_SECONDS + 1, duration, duration + 1]))
        else:
            played = min(INT_MAX, max(0, position) + watched) if 0 <= watched <= duration else None
            position = played if played is not None else draw(st.sampled_from([position, INT_MAX, -1]))
        event = {"kind": kind, "user": user, "video": video, "at": when, "watched": watched, "position": position}
        if draw(st.integers(0, 9)) == 0:  # a clock ahead of the arrival
            event["received_at"] = when - dt.timedelta(seconds=draw(st.sampled_from([299, 301, 3600])))
        if draw(st.integers(0, 9)) == 0:  # an id sent again: the same viewer's (a copy), or another's
            event["same_id_as"] = draw(st.integers(0, max(0, len(events) - 1))) if events else None
            event["copied_by"] = draw(st.sampled_from([user, *USERS]))
        events.append(event)
        if draw(st.integers(0, 2)) == 0:  # the impression of a slot, at the event's time give or take
            slot = draw(
                st.one_of(st.integers(1, 8), st.just(max(1, position // SLOT_SECONDS) if 0 <= position <= duration else 1))
            )
            offset = dt.timedelta(seconds=draw(st.sampled_from([-11, -10, -4, 0, 4, 10, 11])))
            event["impressions"] = [(slot, when + offset)] * draw(st.integers(1, 2))
    return events


@st.composite
def histories(draw):
    days = draw(st.integers(3, 6))
    return days, draw(st.lists(watch_history(days), min_size=1, max_size=6))


@pytest.fixture(scope="module")
def history_conn(database_url):
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def play(conn, days: int, pairs: list) -> Platform:
    """The catalog, then every history through the platform's recording functions."""
    empty_database(conn)
    p = Platform(conn)
    users = {name: p.user(name, "SELLER" if name.startswith("seller") else "USER") for name in USERS}
    videos = {}
    for name, seller, seconds, live_from, live_until in VIDEOS:
        videos[name] = p.video(users[seller], seconds, created_at=live_from or at(D0 - dt.timedelta(days=30), 0))
        if live_until:
            conn.execute("UPDATE video_live_periods SET live_until = %s WHERE video_id = %s", (live_until, videos[name]))
            p.videos[videos[name]].live = [(p.videos[videos[name]].live[0][0], live_until)]
    active = p.ad(D0 - dt.timedelta(days=10), D0 + dt.timedelta(days=30))
    expiring = p.ad(D0 - dt.timedelta(days=10), D0 + dt.timedelta(days=2))
    conn.execute(
        "INSERT INTO video_ads (video_id, ad_id, slot) SELECT v.id, CASE WHEN v.id = %s AND s = 3 THEN %s ELSE %s END, s"
        " FROM videos v, generate_series(1, ad_slot_count(v.duration_seconds, %s)) AS s",
        (videos["long"], expiring, active, SLOT_SECONDS),
    )
    ads = {videos["long"]: {3: expiring}}
    for events in pairs:
        ids = []
        for event in events:
            same = event.get("same_id_as")
            event_id = ids[same] if same is not None and same < len(ids) else uuid.uuid4()
            user = users[event.get("copied_by", event["user"])] if same is not None else users[event["user"]]
            ids.append(p.event(
                event["kind"], user, videos[event["video"]], event["at"], event["watched"], event["position"],
                event_id=event_id, received_at=event.get("received_at"),
            ))  # fmt: skip
            for slot, when in event.get("impressions", []):
                ad = ads.get(videos[event["video"]], {}).get(slot, active)
                p.impression(user, videos[event["video"]], ad, slot, when)
    return p


def engine_verdicts(conn) -> list:
    return sorted(
        (source, str(event_id), user_id, reason)
        for source, event_id, user_id, reason in conn.execute(
            "SELECT source, event_id, user_id, reason FROM analytics.fct_quarantined_events"
        )
    )


@settings(max_examples=examples(3, 60))
@given(histories())
def test_every_verdict_and_payout_of_a_generated_history_is_the_references(history_conn, database_url, generated):
    days, pairs = generated
    p = play(history_conn, days, pairs)
    note(f"{len(p.events)} watch events, {len(p.impressions)} impressions over {days} days")
    settings_ = EngineSettings(_env_file=None, database_url=database_url)
    last = D0 + dt.timedelta(days=days - 1)
    results = pipeline.run_days(settings_, D0, last)
    assert [r.status for r in results] == ["SUCCEEDED"] * days, [r.error for r in results]

    watch = judge_watch_events(p)
    ads = judge_ad_impressions(p, watch.counted)
    in_range = {D0 + dt.timedelta(days=n) for n in range(days)}
    expected = sorted(
        (source, str(event.event_id), event.user_id, reason)
        for source, event, reason in watch.quarantined + ads.quarantined
        if event.occurred_at.astimezone(at(D0, 0).tzinfo).date() in in_range
    )
    assert engine_verdicts(history_conn) == expected
    payouts, _ = reference_settlement(p, sorted(in_range))
    names = ["views", "watch_seconds", "ad_views", "video_payout", "ad_payout", "payout"]
    actual = {
        (row[0], row[1]): dict(zip(names, row[2:]))
        for row in history_conn.execute(f"SELECT settled_on, video_id, {', '.join(names)} FROM analytics.fct_video_daily")
    }
    assert actual == {key: {name: row[name] for name in names} for key, row in payouts.items()}
