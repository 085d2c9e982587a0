"""End to end: a hand-built platform, settled by the pipeline, checked against tests/engine/scenario.py's
independent reference implementation of SPEC.md."""

import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal

import psycopg
import pytest

from settlement import pipeline
from settlement.config import EngineSettings
from tests.conftest import empty_database
from tests.engine.scenario import (
    Platform,
    at,
    reference_intake,
    reference_settlement,
)

MONDAY = dt.date(2026, 11, 23)  # D: the first day of ISO week 48
D = MONDAY
DAY = dt.timedelta(days=1)


NIL = uuid.UUID(int=0)


def build_platform(conn) -> tuple[Platform, dict]:
    p = Platform(conn)
    seller1, seller2 = p.user("seller1", "SELLER"), p.user("seller2", "SELLER")
    u = {n: p.user(f"u{n}") for n in range(1, 9)}
    extra = {
        name: p.user(name) for name in ("q", "m", "r", "a1", "x1", "n1", "n2", "c1", "c2", "c3", *(f"s{n}" for n in range(7)))
    }
    v = {
        1: p.video(seller1, 600),  # one ad slot (at 300 s)
        2: p.video(seller1, 200),  # too short for an ad slot
        3: p.video(seller2, 1800),
        4: p.video(seller2, 400),
        5: p.video(seller2, 900),
        6: p.video(seller1, 4000),
        7: p.video(seller1, 1300),  # four ad slots: the seek loop
        8: p.video(seller2, 10),  # ten seconds long: the 86,400 s claim
        9: p.video(seller2, 900, created_at=at(D, 20)),  # goes live on D at 20:00
        10: p.video(seller1, 900),  # the shared nil UUID
    }
    ads = {
        "live": p.ad(dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
        "ended": p.ad(dt.date(2026, 11, 1), D - DAY),  # expired from D-1 on
        "last_day": p.ad(dt.date(2026, 11, 1), D),
        "future": p.ad(D + DAY, dt.date(2026, 12, 31)),
    }

    # v3 reaches 99,995 lifetime views three days before D; nothing on D-2 and D-1.
    p.bulk_starts(v[3], D - 3 * DAY, 99_995)

    # The 48 h window, on v1.
    p.event("START", u[1], v[1], at(D - 3 * DAY, 10))
    p.event("START", u[1], v[1], at(D, 9), 0)  # 71 h later: a view
    p.event("PROGRESS", u[1], v[1], at(D, 9, 10), 540, position_seconds=540)  # plays across slot 1
    p.event("PROGRESS", u[2], v[1], at(D - 2 * DAY, 12), 0)
    p.event("START", u[2], v[1], at(D, 11, 59))  # 47 h 59 min after any event: no view
    p.event("PROGRESS", u[3], v[1], at(D - 2 * DAY, 12), 0)
    p.event("START", u[3], v[1], at(D, 12))  # exactly 48 h: the window has run out, a view
    p.event("START", u[4], v[1], at(D, 8))  # a view
    p.event("STOP", u[4], v[1], at(D, 8, 30), 300)
    p.event("START", u[4], v[1], at(D, 20))  # same day again: no view
    p.event("PROGRESS", u[5], v[1], at(D, 7), 10)  # no START, but no more than the slack: counts
    p.event("START", u[5], v[1], at(D, 9))  # any counted event refreshes the window: no view
    p.event("START", u[6], v[1], at(D - DAY, 23, 30))  # a view on Sunday D-1
    p.event("START", u[6], v[1], at(D, 0, 10))  # 40 min later, past midnight: no view
    p.event("START", u[7], v[1], at(D, 0, 30))  # 15:30 UTC on D-1, but D in Seoul: a view on D
    p.event("START", u[8], v[1], at(D + DAY, 0, 0))  # the first instant of D+1
    p.event("PROGRESS", u[8], v[1], at(D + DAY, 0, 6), 360, position_seconds=360)
    # A turned-down event refreshes nothing: q's START on D is 73 h after q's last counted event.
    p.event("START", extra["q"], v[1], at(D - 3 * DAY, 9))
    p.event("PROGRESS", extra["q"], v[1], at(D - DAY, 12), -5)  # negative: implausible
    p.event("START", extra["q"], v[1], at(D, 10))  # a view
    # A session across midnight: the 30 s after it count against the START of the day before.
    p.event("START", extra["m"], v[1], at(D, 23, 59))
    p.event("PROGRESS", extra["m"], v[1], at(D + DAY, 0, 0, 30), 30, position_seconds=30)

    # v3: 10 views on D straddle the first tier boundary (5 at 1.0 + 5 at 1.1 = 10.5 -> 10).
    p.bulk_starts(v[3], D, 10)
    # Rankings: v4 and v5 tie on views (v4 has the lower id), v6 leads on watch time.
    for n in (1, 2, 3):
        p.event("START", u[n], v[4], at(D, 14))
        p.event("STOP", u[n], v[4], at(D, 14, 5), 100)
        p.event("START", u[n], v[5], at(D, 15))
        p.event("STOP", u[n], v[5], at(D, 15, 5), 50)
    p.event("START", u[1], v[6], at(D, 16))
    p.event("PROGRESS", u[1], v[6], at(D, 17), 3600, position_seconds=3600)  # across slots 1 .. 12
    p.event("START", u[1], v[2], at(D, 18))
    p.event("START", u[2], v[2], at(D, 18))

    # What counts depends on the previous *counted* event: u2 again on v5.
    p.event("START", u[2], v[5], at(D, 20))
    p.event("PROGRESS", u[2], v[5], at(D, 20, 1), 60)
    p.event("PROGRESS", u[2], v[5], at(D, 20, 2), 500)  # 500 s in 60 s: implausible
    # 100 s, 60 s after the turned-down one but 120 s after the last counted one (20:01): counts
    p.event("PROGRESS", u[2], v[5], at(D, 20, 3), 100)
    p.event("PROGRESS", u[2], v[5], at(D, 20, 4), 100)  # 1 min after 20:03: implausible
    # r's first event in the window is no START and claims more than the slack: nothing counts until
    # an event that claims no more than the slack, then the pair goes on from it.
    p.event("PROGRESS", extra["r"], v[5], at(D, 12), 30)
    p.event("PROGRESS", extra["r"], v[5], at(D, 12, 1), 40)
    p.event("PROGRESS", extra["r"], v[5], at(D, 12, 2), 5)
    p.event("PROGRESS", extra["r"], v[5], at(D, 12, 3), 55)
    p.event("START", extra["r"], v[5], at(D, 12, 4))  # within the window of 12:03: no view

    # Ads on D (recorded at the time of the event that played across the slot, as the API does).
    p.impression(u[1], v[1], ads["live"], 1, at(D, 9, 10), times=3)  # one ad view per slot a day: 10
    p.impression(u[1], v[1], ads["ended"], 1, at(D, 9, 10), times=2)  # contract over: not counted
    p.impression(u[1], v[1], ads["last_day"], 1, at(D, 9, 10))  # the contract's end date: not counted
    for n in range(7):  # seven viewers play v3 across slot 1 without a START (10 s, within the slack): 70
        p.event("PROGRESS", extra[f"s{n}"], v[3], at(D, 10), 10, position_seconds=305)
        p.impression(extra[f"s{n}"], v[3], ads["live"], 1, at(D, 10, 0, 5))
    p.impression(u[1], v[2], ads["live"], 1, at(D, 18), times=4)  # a slot v2 does not have
    p.impression(u[1], v[6], ads["future"], 3, at(D, 17))  # before the contract: not counted
    p.impression(u[1], v[6], ads["live"], 1, at(D, 17))  # 10
    p.impression(u[1], v[6], ads["live"], 2, at(D, 17))  # 10

    # Attacks. The seek loop: 25 jumps to the end and back, each "crossing" the four slots by seeking.
    p.event("START", extra["a1"], v[7], at(D, 19))
    for n in range(25):
        seek = at(D, 19, 0, 2 * n + 1)
        p.event("PROGRESS", extra["a1"], v[7], seek, 0, position_seconds=1300)
        for slot in (1, 2, 3, 4):  # what the API recorded before it judged by play
            p.impression(extra["a1"], v[7], ads["live"], slot, seek)
        p.event("PROGRESS", extra["a1"], v[7], seek + dt.timedelta(seconds=1), 0, position_seconds=0)
    # ... and a claim to have played 1,000 s in one second: turned down, so its crossing earns nothing.
    p.event("PROGRESS", extra["a1"], v[7], at(D, 19, 1, 0), 1000, position_seconds=1000)
    p.impression(extra["a1"], v[7], ads["live"], 3, at(D, 19, 1, 0))
    # Watch time out of thin air: a day's worth claimed on a 10 s video, with no START, three accounts.
    for name in ("c1", "c2", "c3"):
        p.event("PROGRESS", extra[name], v[8], at(D, 13), 86_400, position_seconds=10)
    p.event("PROGRESS", extra["x1"], v[10], at(D, 13), 500, position_seconds=500)  # no START, 500 s: implausible
    # Before it existed: v9 goes live at 20:00.
    p.event("START", u[1], v[9], at(D, 19))  # not live yet
    p.event("START", u[2], v[9], at(D, 21))  # a view
    # The nil UUID, sent by two users: one user's id never hides another user's event.
    p.event("START", extra["n1"], v[10], at(D, 16), event_id=NIL)
    p.event("START", extra["n2"], v[10], at(D, 16), event_id=NIL)
    p.event("START", extra["n1"], v[10], at(D, 16, 30), event_id=NIL)  # n1 again: a copy

    # D+1, Tuesday of the same ISO week.
    p.event("START", u[1], v[1], at(D + DAY, 9))  # u1 saw v1 on D: no view
    copied = p.event("START", u[4], v[4], at(D + DAY, 9))  # u4 never saw v4: a view
    p.event("START", u[4], v[4], at(D, 22), event_id=copied)  # the same event again, claiming D: a copy
    p.impression(u[8], v[1], ads["live"], 1, at(D + DAY, 0, 6))
    return p, v


def engine_videos(conn) -> dict:
    rows = conn.execute(
        """SELECT settled_on, video_id, seller_id, views, watch_seconds, cumulative_views_before,
                  cumulative_views_through, ad_views, video_payout, ad_payout, payout
           FROM analytics.fct_video_daily"""
    ).fetchall()
    names = [
        "seller_id",
        "views",
        "watch_seconds",
        "cumulative_views_before",
        "cumulative_views_through",
        "ad_views",
        "video_payout",
        "ad_payout",
        "payout",
    ]
    return {(row[0], row[1]): dict(zip(names, row[2:])) for row in rows}


def engine_pairs(conn) -> dict:
    rows = conn.execute("SELECT settled_on, video_id, ad_id, ad_views, ad_payout FROM analytics.fct_video_ad_daily")
    return {(r[0], r[1], r[2]): {"ad_views": r[3], "ad_payout": r[4]} for r in rows}


@pytest.fixture(scope="module")
def engine_settings(database_url) -> EngineSettings:
    return EngineSettings(_env_file=None, database_url=database_url)


@pytest.fixture(scope="module")
def scenario_conn(database_url):
    with psycopg.connect(database_url, autocommit=True) as connection:
        empty_database(connection)
        yield connection


@pytest.fixture(scope="module")
def settled(scenario_conn, engine_settings):
    """The scenario settled through D+1: D first (catching up from D-3), then D+1. Built once for the
    module: the tests only read it (the rerun test must leave it as it was)."""
    p, v = build_platform(scenario_conn)
    first_results = pipeline.run_days(engine_settings, D)
    second_results = pipeline.run_days(engine_settings, D + DAY)
    return p, v, first_results + second_results


@pytest.fixture
def conn(scenario_conn):
    return scenario_conn


def test_days_before_the_asked_day_are_settled_first(settled):
    _, _, results = settled
    assert [(r.run_date, r.status) for r in results] == [
        (D - 3 * DAY, "SUCCEEDED"),
        (D - 2 * DAY, "SUCCEEDED"),
        (D - DAY, "SUCCEEDED"),
        (D, "SUCCEEDED"),
        (D + DAY, "SUCCEEDED"),
    ]


def test_every_daily_payout_and_stat_matches_the_reference(settled, conn):
    p, _v, _ = settled
    expected_videos, expected_pairs = reference_settlement(p, [D - 3 * DAY + n * DAY for n in range(5)])
    assert engine_videos(conn) == expected_videos
    assert engine_pairs(conn) == expected_pairs


def test_the_scenario_hits_the_rules_it_is_meant_to(settled, conn):
    """Spot checks in plain numbers, so a wrong reference cannot hide a wrong engine."""
    _, v, _ = settled
    rows = engine_videos(conn)
    # u1 (71 h), u3 (exactly 48 h), u4 (first of two), u7 (00:30 Seoul), q (a rejected event refreshes
    # nothing), m (23:59)
    assert rows[(D, v[1])]["views"] == 6
    assert rows[(D - DAY, v[1])]["views"] == 1
    assert rows[(D + DAY, v[1])]["views"] == 1  # u8 at the first instant of D+1
    assert rows[(D, v[1])]["watch_seconds"] == 540 + 300 + 10
    assert rows[(D + DAY, v[1])]["watch_seconds"] == 360 + 30  # m's 30 s after midnight count
    assert rows[(D, v[3])]["cumulative_views_before"] == 99_995
    assert rows[(D, v[3])]["video_payout"] == 10  # 5 x 1.0 + 5 x 1.1 = 10.5, truncated
    assert rows[(D, v[3])]["payout"] == 10 + 70
    assert rows[(D, v[1])]["ad_payout"] == 10  # one ad view per slot and day; ended ads earn nothing
    assert rows[(D, v[2])]["ad_payout"] == 0 and rows[(D, v[2])]["ad_views"] == 0  # no slot in a 200 s video
    assert rows[(D, v[6])]["ad_payout"] == 20
    assert rows[(D, v[5])]["watch_seconds"] == 150 + (60 + 100) + (5 + 55)
    assert rows[(D, v[5])]["views"] == 3
    assert rows[(D - 3 * DAY, v[3])]["payout"] == 99_995
    assert all(isinstance(row["payout"], Decimal) for row in rows.values())


def test_the_attacks_earn_nothing(settled, conn):
    _, v, _ = settled
    rows = engine_videos(conn)
    seek_loop = rows[(D, v[7])]
    assert (seek_loop["views"], seek_loop["watch_seconds"], seek_loop["ad_views"], seek_loop["ad_payout"]) == (1, 0, 0, 0)
    assert not any(video == v[8] for _, video in rows)  # 3 x 86,400 s claimed on a 10 s video
    assert rows[(D, v[9])]["views"] == 1  # the view after it went live, not the one before
    assert rows[(D, v[10])]["views"] == 2  # two users, one nil UUID
    assert rows[(D, v[4])]["views"] == 3 and rows[(D + DAY, v[4])]["views"] == 1  # the copy on D: not counted
    top_watch = [
        r[0]
        for r in conn.execute(
            "SELECT video_id FROM analytics.rpt_top_videos WHERE period = 'day' AND period_start = %s "
            "AND scope = 'platform' AND metric = 'watch_time' ORDER BY rank",
            (D,),
        )
    ]
    assert top_watch == [v[6], v[1], v[5], v[4], v[3]]


def test_every_event_is_counted_or_quarantined_with_its_reason(settled, conn):
    p, _, _ = settled
    for day in [D - 3 * DAY + n * DAY for n in range(5)]:
        engine = {
            source: (ingested, counted, by_reason)
            for source, ingested, counted, by_reason in conn.execute(
                """SELECT source, ingested, counted, quarantined_by_reason FROM analytics.fct_event_intake_daily
                   WHERE settled_on = %s""",
                (day,),
            )
        }
        assert engine == reference_intake(p, day), day
    by_reason = dict(
        conn.execute(
            """SELECT source || ' ' || reason, count(*) FROM analytics.fct_quarantined_events
           WHERE settled_on = %s GROUP BY 1""",
            (D,),
        ).fetchall()
    )
    assert by_reason == {
        "watch_events implausible_watch": 9,  # u2 x 2, r x 2, the 1,000 s second, 3 x 86,400 s, x1's 500 s
        "watch_events video_not_live": 1,
        "watch_events duplicate_event": 2,  # n1's nil UUID again, u4's D+1 event claiming D
        "ad_impressions repeat_ad_view": 2,
        "ad_impressions ad_not_active": 4,
        "ad_impressions unknown_slot": 4,
        "ad_impressions slot_not_played": 101,  # 100 by seeking, 1 by an event that did not count
    }


def test_weeks_and_months_are_sums_of_days(settled, conn):
    p, _, _ = settled
    expected_videos, _ = reference_settlement(p, [D - 3 * DAY + n * DAY for n in range(5)])
    periods = {
        ("week", D): [D, D + DAY],  # Monday and Tuesday of ISO week 48
        ("week", D - 7 * DAY): [D - 3 * DAY, D - 2 * DAY, D - DAY],  # Friday to Sunday of week 47
        ("month", dt.date(2026, 11, 1)): [D - 3 * DAY + n * DAY for n in range(5)],
        ("day", D): [D],
    }
    for (period, start), days in periods.items():
        expected = defaultdict(lambda: defaultdict(int))
        for (day, video_id), row in expected_videos.items():
            if day in days:
                for measure in ("views", "watch_seconds", "ad_views", "video_payout", "ad_payout", "payout"):
                    expected[video_id][measure] += row[measure]
        actual = {
            row[0]: dict(zip(("views", "watch_seconds", "ad_views", "video_payout", "ad_payout", "payout"), row[1:]))
            for row in conn.execute(
                """SELECT video_id, views, watch_seconds, ad_views, video_payout, ad_payout, payout
                   FROM analytics.fct_video_payouts WHERE period = %s AND period_start = %s""",
                (period, start),
            )
        }
        assert actual == {video: dict(measures) for video, measures in expected.items()}, (period, start)


def test_ad_payouts_per_period(settled, conn):
    _, v, _ = settled
    rows = {
        (r[0], r[1]): (r[2], r[3])
        for r in conn.execute(
            """SELECT video_id, ad_id, ad_views, ad_payout FROM analytics.fct_video_ad_payouts
               WHERE period = 'week' AND period_start = %s""",
            (D,),
        )
    }
    live_ad = next(ad for (video, ad) in rows if video == v[3])
    assert rows[(v[1], live_ad)] == (2, 20)  # one on D, one on D+1


def expected_top(rows: dict, day_filter, metric: str, seller=None) -> list[int]:
    totals = defaultdict(int)
    for (day, video_id), row in rows.items():
        if day_filter(day) and (seller is None or row["seller_id"] == seller):
            totals[video_id] += row[metric]
    ranked = sorted((video for video, total in totals.items() if total > 0), key=lambda video: (-totals[video], video))
    return ranked[:5]


def test_top_five_by_views_and_watch_time(settled, conn):
    p, v, _ = settled
    expected_videos, _ = reference_settlement(p, [D - 3 * DAY + n * DAY for n in range(5)])
    sellers = {row["seller_id"] for row in expected_videos.values()}
    cases = [
        ("day", D, lambda day: day == D),
        ("week", D, lambda day: day >= D),
        ("month", dt.date(2026, 11, 1), lambda day: day.month == 11),
    ]
    for period, start, in_period in cases:
        for metric, measure in (("views", "views"), ("watch_time", "watch_seconds")):
            for seller in [None, *sellers]:
                actual = [
                    row[0]
                    for row in conn.execute(
                        """SELECT video_id FROM analytics.rpt_top_videos
                           WHERE period = %s AND period_start = %s AND metric = %s
                             AND scope = %s AND seller_id IS NOT DISTINCT FROM %s ORDER BY rank""",
                        (period, start, metric, "platform" if seller is None else "seller", seller),
                    )
                ]
                assert actual == expected_top(expected_videos, in_period, measure, seller), (period, metric, seller)
    day_by_views = [
        r[0]
        for r in conn.execute(
            "SELECT video_id FROM analytics.rpt_top_videos WHERE period='day' AND period_start=%s "
            "AND scope='platform' AND metric='views' ORDER BY rank",
            (D,),
        )
    ]
    assert day_by_views == [v[3], v[1], v[4], v[5], v[2]]  # v4 before v5: equal views, lower id


def table_dump(conn) -> dict:
    dump = {}
    for table in ("fct_video_daily", "fct_video_ad_daily", "fct_video_payouts", "fct_video_ad_payouts", "rpt_top_videos"):
        dump[table] = sorted(map(repr, conn.execute(f"SELECT * FROM analytics.{table}").fetchall()))
    return dump


def test_rerunning_a_day_gives_identical_results(settled, conn, engine_settings):
    """Settling D again settles D+1 again after it (its numbers follow from D's): both as they were."""
    before = table_dump(conn)
    results = pipeline.run_days(engine_settings, D)
    assert [(r.run_date, r.status) for r in results] == [(D, "SUCCEEDED"), (D + DAY, "SUCCEEDED")]
    assert table_dump(conn) == before


def test_every_run_is_recorded(settled, conn):
    rows = conn.execute(
        "SELECT run_date, status, finished_at IS NOT NULL, row_counts ? 'fct_video_daily' FROM pipeline_runs ORDER BY id"
    ).fetchall()
    assert [row[0] for row in rows][:5] == [D - 3 * DAY, D - 2 * DAY, D - DAY, D, D + DAY]
    assert all(row[1:] == ("SUCCEEDED", True, True) for row in rows)
