"""The ledger invariant, as a property: through random rounds of late events (adding and removing value),
closes and reruns, after every settlement
- a closed day's published numbers never change, adjustments booked on it included;
- for every video, what was paid for closed days plus the adjustments booked for them is what the
  engine settles for those days now (each late difference is booked exactly once);
- every settled day is what the independent reference computes.

SETTLEMENT_LEDGER_ROUNDS (default 14) and SETTLEMENT_LEDGER_SEED (default 2026) choose the walk.
"""

import datetime as dt
import os
import random
from collections import defaultdict

from settlement import closing, pipeline
from settlement.config import Settings
from tests.engine.scenario import Platform, at, reference_settlement

DAYS = [dt.date(2026, 11, 9) + dt.timedelta(days=n) for n in range(6)]
ROUNDS = int(os.environ.get("SETTLEMENT_LEDGER_ROUNDS", "14"))
SEED = int(os.environ.get("SETTLEMENT_LEDGER_SEED", "2026"))


def published_closed_day(conn, day: dt.date) -> list:
    """Everything readers see for a closed day: what it paid, and what it booked for earlier days."""
    paid = conn.execute(
        """SELECT 'paid', video_id, views, video_payout, ad_payout, adjustment FROM analytics.fct_video_payable_daily
           WHERE settled_on = %s ORDER BY 1, 2, 6""",
        (day,),
    ).fetchall()
    booked = conn.execute(
        """SELECT 'booked', video_id, belongs_to, payout_delta FROM analytics.fct_payout_adjustments
           WHERE booked_on = %s ORDER BY 2, 3""",
        (day,),
    ).fetchall()
    return paid + booked


def ledger(conn, closed: list[dt.date]) -> dict:
    """video -> (paid for closed days + adjustments booked for them, what they come to now)."""
    totals = defaultdict(lambda: [0, 0])
    for video, amount in conn.execute(
        "SELECT video_id, sum(payout) FROM closed_video_payouts GROUP BY 1"
    ):
        totals[video][0] += amount
    for video, amount in conn.execute(
        "SELECT video_id, sum(payout_delta) FROM analytics.fct_payout_adjustments WHERE belongs_to = ANY(%s) GROUP BY 1",
        (closed,),
    ):
        totals[video][0] += amount
    for video, amount in conn.execute(
        "SELECT video_id, sum(payout) FROM analytics.fct_video_daily WHERE settled_on = ANY(%s) GROUP BY 1", (closed,)
    ):
        totals[video][1] += amount
    return {video: tuple(pair) for video, pair in totals.items()}


def test_paid_plus_adjustments_is_what_the_engine_settles_now(conn, database_url):
    rng = random.Random(SEED)
    settings = Settings(_env_file=None, database_url=database_url)
    p = Platform(conn)
    seller = p.user("seller", "SELLER")
    videos = [p.video(seller, 600) for _ in range(3)]
    for day in DAYS[:2]:
        for video in videos:
            p.bulk_starts(video, day, rng.randint(1, 4))
    last = DAYS[1]
    closed: list[dt.date] = []
    frozen: dict[dt.date, list] = {}
    late_minute = iter(range(10_000))
    log = []

    def settle() -> None:
        results = pipeline.run_days(settings, last)
        assert results and all(r.succeeded for r in results), [r.error for r in results]

    settle()
    for round_number in range(ROUNDS):
        settled_days = [day for day in DAYS if day <= last]
        action = rng.choice(["late views", "late views", "lost views", "close", "next day", "rerun"])
        if action == "late views":
            day, video = rng.choice(settled_days), rng.choice(videos)
            p.bulk_starts(video, day, rng.randint(1, 3))
        elif action == "lost views":
            # an event of a viewer a minute before their START, which then is no view (value goes away)
            starts = [e for e in p.events if e.kind == "START" and e.occurred_at.astimezone(at(DAYS[0], 0).tzinfo).date() <= last]
            counted = {(e.user_id, e.video_id) for e in p.events if e.kind != "START"}
            candidates = [e for e in starts if (e.user_id, e.video_id) not in counted]
            if candidates:
                start = rng.choice(candidates)
                p.event("PAUSE", start.user_id, start.video_id,
                        start.occurred_at - dt.timedelta(minutes=1, seconds=next(late_minute) % 50))
        elif action == "close":
            open_days = [day for day in settled_days if day not in closed and day < last]
            if open_days:
                closing.close_days(settings, [open_days[0]])
                closed.append(open_days[0])
                frozen[open_days[0]] = published_closed_day(conn, open_days[0])
        elif action == "next day" and last < DAYS[-1]:
            last += dt.timedelta(days=1)
            for video in videos:
                p.bulk_starts(video, last, rng.randint(0, 3))
        log.append(action)
        settle()

        for day, published in frozen.items():
            assert published_closed_day(conn, day) == published, (round_number, log, day)
        for video, (paid, now) in ledger(conn, closed).items():
            assert paid == now, (round_number, log, video, paid, now)
        expected, _ = reference_settlement(p, [day for day in DAYS if day <= last])
        actual = dict(((day, video), payout) for day, video, payout in conn.execute(
            "SELECT settled_on, video_id, payout FROM analytics.fct_video_daily"))
        assert actual == {key: row["payout"] for key, row in expected.items()}, (round_number, log)
    print(f"ledger walk: {ROUNDS} rounds, seed {SEED}: {log}; closed {closed}")
    assert "close" in log and ("late views" in log or "lost views" in log)
