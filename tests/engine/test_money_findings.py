"""The money paths found open on 2026-12-01 (issue 21), each as it was attacked: what the worst client
claimed, and that it now earns only what SPEC allows. Expectations come from the independent reference
(tests/engine/scenario.py) and, where SPEC gives the number, from SPEC itself."""

import datetime as dt

import psycopg
import pytest

from settlement import pipeline
from settlement.config import EngineSettings
from tests.conftest import empty_database
from tests.engine.scenario import (
    SLOT_SECONDS,
    Platform,
    at,
    judge_ad_impressions,
    judge_watch_events,
    reference_settlement,
)

D = dt.date(2026, 11, 20)
DAY = dt.timedelta(days=1)
MS = dt.timedelta(milliseconds=1)


@pytest.fixture(scope="module")
def attacked(database_url):
    """One platform with every attack below, settled D-1 .. D+1."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        empty_database(conn)
        p = Platform(conn)
        seller, other_seller = p.user("seller", "SELLER"), p.user("other_seller", "SELLER")
        named = {"seller": seller}
        named["marathon"] = p.video(other_seller, 86_400)  # what its seller declared: 287 ad slots
        named["normal"] = p.video(other_seller, 1_800)  # 5 slots
        named["own"] = p.video(seller, 1_800)
        named["midnight"] = p.video(other_seller, 2_400)
        named["honest"] = p.video(other_seller, 1_800)
        ad = p.ad(D - 10 * DAY, D + 10 * DAY)
        conn.execute(
            "INSERT INTO video_ads (video_id, ad_id, slot) SELECT v, %s, s FROM unnest(%s::bigint[]) AS v, generate_series(1, 287) AS s "
            "WHERE s <= ad_slot_count((SELECT duration_seconds FROM videos WHERE id = v), %s) ON CONFLICT DO NOTHING",
            (ad, [named[name] for name in ("marathon", "normal", "own", "midnight", "honest")], SLOT_SECONDS),
        )
        named["ad"] = ad

        # 1. Watching with no time passing: a START, then 287 PROGRESS events 1 ms apart, the k-th at
        # position 300k + 5 with 10 s watched, and the impression of each slot it claims to have crossed.
        burster = p.user("burster")
        start = at(D, 9)
        p.event("START", burster, named["marathon"], start)
        for k in range(1, 288):
            when = start + k * MS
            p.event("PROGRESS", burster, named["marathon"], when, 10, 300 * k + 5)
            p.impression(burster, named["marathon"], ad, k, when)
        # ... and on a normal video, 60 events in 60 ms, 10 s each
        quick = p.user("quick")
        p.event("START", quick, named["normal"], start)
        for k in range(1, 61):
            p.event("PROGRESS", quick, named["normal"], start + k * MS, 10, 10 * k)
            if (10 * k) % 300 == 0:
                p.impression(quick, named["normal"], ad, 10 * k // 300, start + k * MS)
        # An honest viewer: 120 s of a video in 2 minutes, across no slot, to rank against.
        honest = p.user("honest")
        p.event("START", honest, named["honest"], at(D, 10))
        p.event("PROGRESS", honest, named["honest"], at(D, 10, 1), 60, 60)
        p.event("STOP", honest, named["honest"], at(D, 10, 2), 60, 120)

        # 2. Self-views: the seller watches their own video across slot 1, with its impression.
        p.event("START", seller, named["own"], at(D, 11))
        p.event("PROGRESS", seller, named["own"], at(D, 11, 5, 5), 305, 305)
        p.impression(seller, named["own"], ad, 1, at(D, 11, 5, 5))

        # 3. Midnight, both ways. Before: START 23:59:27 at 280 s, STOP 23:59:57 at 310 s (30 s played,
        # across slot 1), the impression at 00:00:03 the next day; later that day the slot played again.
        night = p.user("night")
        p.event("START", night, named["midnight"], at(D - DAY, 23, 59, 27), 0, 280)
        p.event("STOP", night, named["midnight"], at(D - DAY, 23, 59, 57), 30, 310)
        p.impression(night, named["midnight"], ad, 1, at(D, 0, 0, 3))
        p.event("START", night, named["midnight"], at(D, 14), 0, 290)
        p.event("PROGRESS", night, named["midnight"], at(D, 14, 0, 20), 20, 310)
        p.impression(night, named["midnight"], ad, 1, at(D, 14, 0, 20))  # a repeat now
        # After: the impression at 23:59:55, the crossing PROGRESS at 00:00:00 (305 s, 30 s played).
        owl = p.user("owl")
        p.event("START", owl, named["midnight"], at(D, 23, 59, 30), 0, 275)
        p.impression(owl, named["midnight"], ad, 1, at(D, 23, 59, 55))
        p.event("PROGRESS", owl, named["midnight"], at(D + DAY, 0, 0, 0), 30, 305)

        # 7. Values no client could honestly send, through the recording function (the API refuses them):
        # a START, then a PROGRESS at the limits of the integer type, with the impression it claims.
        for position, watched in ((2_147_483_647, -1), (0, -2_147_483_648), (2_147_483_647, 2_147_483_647)):
            extreme = p.user(f"extreme{position}{watched}")
            p.event("START", extreme, named["normal"], at(D, 12))
            p.event("PROGRESS", extreme, named["normal"], at(D, 12, 0, 30), watched, position)
            p.impression(extreme, named["normal"], ad, 1, at(D, 12, 0, 30))

        settings = EngineSettings(_env_file=None, database_url=database_url)
        results = pipeline.run_days(settings, D - DAY, D + DAY)
        assert [r.status for r in results] == ["SUCCEEDED"] * 3, [r.error for r in results]
        yield conn, p, named


def video_day(conn, video_id: int, day: dt.date) -> dict:
    row = conn.execute(
        "SELECT views, watch_seconds, ad_views, ad_payout, payout FROM analytics.fct_video_daily WHERE video_id = %s AND settled_on = %s",
        (video_id, day),
    ).fetchone()
    return dict(zip(("views", "watch_seconds", "ad_views", "ad_payout", "payout"), row or (0, 0, 0, 0, 0)))


def test_the_slack_is_granted_once_not_per_event(attacked):
    """287 events 1 ms apart earn what 0.29 s of real time (and the slack, once) allows: 10 s watched and
    the one slot that those 10 s crossed; the 60 quick events earn 10 s and no slot."""
    conn, _, named = attacked
    assert video_day(conn, named["marathon"], D) == {
        "views": 1,
        "watch_seconds": 10,
        "ad_views": 1,
        "ad_payout": 10,
        "payout": 11,
    }
    assert video_day(conn, named["normal"], D)["watch_seconds"] == 10  # quick: the first 10 s; the extreme claims: nothing
    turned_down = conn.execute(
        """SELECT count(*) FROM analytics.fct_quarantined_events q JOIN users u ON u.id = q.user_id
           WHERE q.settled_on = %s AND u.username IN ('burster', 'quick') AND q.reason = 'implausible_watch'""",
        (D,),
    ).fetchone()[0]
    assert turned_down == 286 + 59
    top = conn.execute(
        "SELECT video_id FROM analytics.rpt_top_videos WHERE period = 'day' AND period_start = %s AND scope = 'platform' "
        "AND metric = 'watch_time' AND rank = 1",
        (D,),
    ).fetchone()[0]
    assert top == named["honest"]  # 120 s honestly watched lead the day, not the burst


def test_a_seller_watching_their_own_video_earns_nothing(attacked):
    conn, _, named = attacked
    assert video_day(conn, named["own"], D) == {"views": 0, "watch_seconds": 0, "ad_views": 0, "ad_payout": 0, "payout": 0}
    reasons = conn.execute(
        "SELECT source, reason, count(*) FROM analytics.fct_quarantined_events WHERE settled_on = %s AND user_id = %s GROUP BY 1, 2",
        (D, named["seller"]),
    ).fetchall()
    assert sorted(reasons) == [("ad_impressions", "self_view", 1), ("watch_events", "self_view", 2)]
    ranked = conn.execute("SELECT count(*) FROM analytics.rpt_top_videos WHERE video_id = %s", (named["own"],)).fetchone()[0]
    assert ranked == 0


def test_an_impression_played_across_midnight_counts_on_its_own_day(attacked):
    conn, _, named = attacked
    by_user = {
        (username, settled_on): reasons
        for username, settled_on, reasons in conn.execute(
            """SELECT u.username, i.settled_on, array_agg(coalesce(i.reason, 'counts') ORDER BY i.occurred_at)
               FROM analytics.int_ad_impressions_daily i JOIN users u ON u.id = i.user_id
               WHERE u.username IN ('night', 'owl') GROUP BY 1, 2"""
        )
    }
    assert by_user == {("night", D): ["counts", "repeat_ad_view"], ("owl", D): ["counts"]}
    assert video_day(conn, named["midnight"], D)["ad_views"] == 2


def test_values_at_the_limits_of_their_type_are_quarantined_and_the_days_settle(attacked):
    conn, _, _ = attacked
    rows = conn.execute(
        """SELECT q.source, q.reason FROM analytics.fct_quarantined_events q JOIN users u ON u.id = q.user_id
           WHERE q.settled_on = %s AND u.username LIKE 'extreme%%' ORDER BY 1, 2""",
        (D,),
    ).fetchall()
    assert rows == [("ad_impressions", "slot_not_played")] * 3 + [("watch_events", "implausible_watch")] * 3


def test_every_verdict_and_payout_is_the_references(attacked):
    conn, p, _ = attacked
    days = [D - DAY, D, D + DAY]
    expected, _expected_ads = reference_settlement(p, days)
    names = ["views", "watch_seconds", "ad_views", "video_payout", "ad_payout", "payout"]
    actual = {
        (row[0], row[1]): dict(zip(names, row[2:]))
        for row in conn.execute(f"SELECT settled_on, video_id, {', '.join(names)} FROM analytics.fct_video_daily")
    }
    assert actual == {key: {name: row[name] for name in names} for key, row in expected.items()}
    watch = judge_watch_events(p)
    ads = judge_ad_impressions(p, watch.counted)
    expected_quarantine = sorted(
        (source, str(event.event_id), event.user_id, reason) for source, event, reason in watch.quarantined + ads.quarantined
    )
    quarantined = sorted(
        (source, str(event_id), user_id, reason)
        for source, event_id, user_id, reason in conn.execute(
            "SELECT source, event_id, user_id, reason FROM analytics.fct_quarantined_events"
        )
    )
    assert quarantined == expected_quarantine
