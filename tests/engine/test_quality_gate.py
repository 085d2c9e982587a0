"""The quality gate: bad events are not counted, each is quarantined with its reason and raw row, and
ingested = counted + quarantined."""

import datetime as dt
import uuid

import pytest

from settlement import pipeline
from settlement.config import Settings
from tests.engine.scenario import Platform, at

D = dt.date(2026, 11, 23)


@pytest.fixture
def gated(conn, database_url):
    p = Platform(conn)
    seller, viewer = p.user("seller", "SELLER"), p.user("viewer")
    good, hidden = p.video(seller, 900), p.video(seller, 900)
    conn.execute("UPDATE videos SET status = 'INACTIVE' WHERE id = %s", (hidden,))
    ad = p.ad(dt.date(2026, 11, 1), dt.date(2026, 11, 30))

    p.event("START", viewer, good, at(D, 10))
    p.event("PROGRESS", viewer, good, at(D, 10, 1), 60)  # counts: 60 s watched in 60 s
    p.event("PROGRESS", viewer, good, at(D, 10, 2), 500)  # 500 s watched in 60 s
    p.event("PROGRESS", viewer, good, at(D, 10, 3), -5)
    p.event("START", viewer, hidden, at(D, 11))
    p.event("START", viewer, 999_999, at(D, 12))
    future_id = uuid.uuid4()
    conn.execute(
        """INSERT INTO watch_events (event_id, kind, user_id, video_id, occurred_at, watched_seconds, received_at)
           VALUES (%s, 'PROGRESS', %s, %s, %s, 0, %s)""",
        (future_id, viewer, good, at(D, 23), at(D, 21)),  # claims a time two hours after it arrived
    )
    duplicate = uuid.uuid4()
    record = "SELECT record_watch_event(%s, 'STOP', %s, %s, %s, 0, 0)"  # how the API stores an event
    assert conn.execute(record, (duplicate, viewer, good, at(D, 10, 4))).fetchone() == (True,)
    # The same event again, claiming another time: turned away from watch_events, kept as a duplicate.
    assert conn.execute(record, (duplicate, viewer, good, at(D, 10, 9))).fetchone() == (False,)

    p.impression(viewer, good, ad, at(D, 10, 5), times=2)
    p.impression(viewer, good, 999_999, at(D, 10, 5))
    p.impression(viewer, hidden, ad, at(D, 11, 5))
    p.impression(viewer, 999_999, ad, at(D, 12, 5))

    [result] = pipeline.run_days(Settings(_env_file=None, database_url=database_url), D)
    assert result.succeeded, result.error
    return good, future_id, duplicate


def test_every_bad_event_is_quarantined_with_its_reason(gated, conn):
    good, future_id, duplicate = gated
    rows = conn.execute(
        "SELECT source, reason, raw_row FROM analytics.int_quarantined_events WHERE settled_on = %s", (D,)
    ).fetchall()
    reasons = sorted((source, reason) for source, reason, _ in rows)
    assert reasons == [
        ("ad_impressions", "inactive_video"),
        ("ad_impressions", "unknown_ad"),
        ("ad_impressions", "unknown_video"),
        ("watch_events", "duplicate_event"),
        ("watch_events", "future_timestamp"),
        ("watch_events", "inactive_video"),
        ("watch_events", "negative_watched_seconds"),
        ("watch_events", "unknown_video"),
        ("watch_events", "watched_more_than_elapsed"),
    ]
    raw = {reason: row for source, reason, row in rows if source == "watch_events"}
    assert raw["watched_more_than_elapsed"]["watched_seconds"] == 500
    assert raw["negative_watched_seconds"]["watched_seconds"] == -5
    assert raw["future_timestamp"]["event_id"] == str(future_id)
    assert raw["unknown_video"]["video_id"] == 999_999
    assert raw["duplicate_event"]["event_id"] == str(duplicate)
    assert dt.datetime.fromisoformat(raw["duplicate_event"]["occurred_at"]) == at(D, 10, 9)  # the copy, as sent


def test_only_good_events_count(gated, conn):
    good, _, _ = gated
    views, watch_seconds, ad_views, payout = conn.execute(
        "SELECT views, watch_seconds, ad_views, payout FROM analytics.fct_video_daily WHERE settled_on = %s AND video_id = %s",
        (D, good),
    ).fetchone()
    assert (views, watch_seconds, ad_views) == (1, 60, 2)
    assert payout == 1 + 2 * 10
    assert conn.execute("SELECT count(*) FROM analytics.fct_video_daily WHERE settled_on = %s", (D,)).fetchone()[0] == 1


def test_ingested_is_counted_plus_quarantined(gated, conn):
    rows = {
        source: (ingested, counted, quarantined, by_reason)
        for source, ingested, counted, quarantined, by_reason in conn.execute(
            """SELECT source, ingested, counted, quarantined, quarantined_by_reason
               FROM analytics.fct_event_intake_daily WHERE settled_on = %s""",
            (D,),
        )
    }
    # 9 watch events arrived, one of them a copy of another: 3 count, 6 do not.
    assert rows["watch_events"][:3] == (9, 3, 6)
    assert rows["ad_impressions"][:3] == (5, 2, 3)
    assert rows["watch_events"][3] == {
        "duplicate_event": 1, "future_timestamp": 1, "inactive_video": 1, "negative_watched_seconds": 1, "unknown_video": 1,
        "watched_more_than_elapsed": 1,
    }
    run_counts = conn.execute("SELECT quarantined FROM pipeline_runs WHERE run_date = %s", (D,)).fetchone()[0]
    assert run_counts == {"watch_events": rows["watch_events"][3], "ad_impressions": rows["ad_impressions"][3]}
