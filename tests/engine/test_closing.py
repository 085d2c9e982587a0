"""Closed days: their payouts never change; late events become adjustments in the next open day."""

import datetime as dt

import pytest

from settlement import closing, pipeline
from settlement.config import EngineSettings
from tests.engine.scenario import Platform, at

D1 = dt.date(2026, 11, 23)  # a Monday
D2 = D1 + dt.timedelta(days=1)


@pytest.fixture
def settings(database_url) -> EngineSettings:
    return EngineSettings(_env_file=None, database_url=database_url)


@pytest.fixture
def platform(conn):
    p = Platform(conn)
    seller = p.user("seller", "SELLER")
    viewers = [p.user(f"viewer{n}") for n in range(6)]
    video = p.video(seller, 600)
    for viewer in viewers[:3]:
        p.event("START", viewer, video, at(D1, 12))
    p.event("START", viewers[5], video, at(D2, 9))
    return p, video, viewers


def payouts(conn, period: str, start: dt.date, video: int):
    return conn.execute(
        """SELECT views, video_payout, adjustment, payout FROM analytics.fct_video_payouts
           WHERE period = %s AND period_start = %s AND video_id = %s""",
        (period, start, video),
    ).fetchone()


def assert_settled(results, days: list) -> None:
    assert [(r.run_date, r.status) for r in results] == [(day, "SUCCEEDED") for day in days], [r.error for r in results]


def dump(conn) -> list:
    return sorted(
        repr(row)
        for table in ("fct_video_payouts", "fct_payout_adjustments", "fct_video_daily", "closed_video_payouts")
        for row in conn.execute(f"SELECT * FROM {'public' if table.startswith('closed') else 'analytics'}.{table}").fetchall()
    )


def test_late_events_for_a_closed_day_become_adjustments(platform, conn, settings):
    p, video, viewers = platform
    pipeline.run_days(settings, D1)
    closing.close_days(settings, [D1])
    assert payouts(conn, "day", D1, video) == (3, 3, 0, 3)

    # Late: two more views of D1, and an event just before viewer0's START, which then is no view.
    p.event("START", viewers[3], video, at(D1, 13))
    p.event("START", viewers[4], video, at(D1, 14))
    p.event("PAUSE", viewers[0], video, at(D1, 11, 30))
    results = pipeline.run_days(settings, D2)

    assert [(r.run_date, r.status) for r in results] == [(D1, "SUCCEEDED"), (D2, "SUCCEEDED")]
    assert payouts(conn, "day", D1, video) == (3, 3, 0, 3)  # the closed day as it was paid
    restated = conn.execute(
        "SELECT views, payout FROM analytics.fct_video_daily WHERE settled_on = %s AND video_id = %s", (D1, video)
    ).fetchone()
    assert restated == (4, 4)  # what D1 comes to now: 3 - 1 + 2
    adjustments = conn.execute(
        "SELECT booked_on, belongs_to, video_id, payout_delta FROM analytics.fct_payout_adjustments"
    ).fetchall()
    assert adjustments == [(D2, D1, video, 1)]
    assert payouts(conn, "day", D2, video) == (1, 1, 1, 2)  # D2's own view + the credit note
    assert payouts(conn, "week", D1, video) == (4, 4, 1, 5)  # 3 paid for D1, 1 for D2, 1 adjustment
    assert conn.execute("SELECT sum(payout) FROM closed_video_payouts WHERE day = %s", (D1,)).fetchone()[0] == 3


def test_a_later_drop_books_a_negative_adjustment_once(platform, conn, settings):
    p, video, viewers = platform
    assert_settled(pipeline.run_days(settings, D1), [D1])
    closing.close_days(settings, [D1])
    p.event("PAUSE", viewers[0], video, at(D1, 11, 30))  # viewer0's START is no view any more
    assert_settled(pipeline.run_days(settings, D2), [D1, D2])
    assert conn.execute("SELECT payout_delta FROM analytics.fct_payout_adjustments").fetchall() == [(-1,)]

    before = dump(conn)
    [rerun] = pipeline.run_days(settings, D2)  # an open day again: same results, nothing booked twice
    assert rerun.succeeded
    assert dump(conn) == before


def test_closing_needs_a_settled_day_and_happens_once(platform, conn, settings):
    with pytest.raises(closing.CannotClose, match="not settled"):
        closing.close_days(settings, [D1])
    pipeline.run_days(settings, D1)
    closing.close_days(settings, [D1])
    with pytest.raises(closing.CannotClose, match="already closed"):
        closing.close_days(settings, [D1])
    with pytest.raises(closing.CannotClose, match="not a month"):
        closing.days_of_month("2026-13")


def adjustments_by_booking(conn) -> dict:
    return {
        (booked_on, belongs_to): amount
        for booked_on, belongs_to, amount in conn.execute(
            """SELECT booked_on, belongs_to, sum(payout_delta) FROM analytics.fct_payout_adjustments
               GROUP BY 1, 2"""
        )
    }


def test_a_closed_day_keeps_its_adjustments_and_a_later_difference_is_booked_once(conn, settings):
    """D1 closed; late events for it book +30 on D2, then +40 in all; D2 is closed (paid with its +40);
    5 more late events for D1: D2 stays as paid, D3 books +5, not +45, and the sum of what was paid
    for D1 (its payout and every adjustment) is what D1 comes to now."""
    p = Platform(conn)
    video = p.video(p.user("seller", "SELLER"), 600)
    d1, d2, d3 = (dt.date(2026, 11, 16) + dt.timedelta(days=n) for n in range(3))
    p.bulk_starts(video, d1, 3)
    assert_settled(pipeline.run_days(settings, d1), [d1])
    closing.close_days(settings, [d1])
    paid_d1 = conn.execute("SELECT sum(payout) FROM closed_video_payouts WHERE day = %s", (d1,)).fetchone()[0]

    p.bulk_starts(video, d1, 30)
    assert_settled(pipeline.run_days(settings, d2), [d1, d2])
    assert adjustments_by_booking(conn) == {(d2, d1): 30}
    p.bulk_starts(video, d1, 10)
    assert_settled(pipeline.run_days(settings, d2), [d1, d2])
    assert adjustments_by_booking(conn) == {(d2, d1): 40}  # an open day: its booking follows the facts
    closing.close_days(settings, [d2])
    paid_d2 = payouts(conn, "day", d2, video)

    p.bulk_starts(video, d1, 5)
    assert_settled(pipeline.run_days(settings, d3), [d1, d2, d3])
    assert adjustments_by_booking(conn) == {(d2, d1): 40, (d3, d1): 5}
    assert payouts(conn, "day", d2, video) == paid_d2  # a paid day never changes, adjustments included
    restated_d1 = conn.execute("SELECT payout FROM analytics.fct_video_daily WHERE settled_on = %s", (d1,)).fetchone()[0]
    assert paid_d1 + 40 + 5 == restated_d1 == 3 + 45
    frozen = conn.execute("SELECT booked_on, payout_delta FROM closed_payout_adjustments").fetchall()
    assert frozen == [(d2, 40)]
