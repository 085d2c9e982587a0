"""The generator's shapes beside its default one, for the scaling benchmark: few videos with many viewers,
many videos, impression-heavy days, days of different volumes, attack traffic. Each is deterministic for
a seed and has the property it is made for; the attack is settled, and earns nothing."""

import dataclasses
import datetime as dt

import psycopg
import pytest

from settlement import pipeline
from settlement.config import EngineSettings
from settlement.generate import GenerateConfig, generate
from settlement.generate.attacks import BURST_REPORTS, attack_counts
from tests.generate.conftest import settings_for
from tests.generate.test_generate import SLOTS, TABLE_DUMPS, scalar, session_problems

DAY = dt.date(2026, 3, 1)
DUMPS = {**TABLE_DUMPS, "duplicate_events": "SELECT * FROM duplicate_events ORDER BY id"}

FEW_VIDEOS = GenerateConfig(videos=3, users=3_000, days=2, events_per_day=4_000, seed=21, first_day=DAY)
MANY_VIDEOS = GenerateConfig(
    videos=50_000, users=2_000, days=1, events_per_day=3_000, seed=22, first_day=DAY, popularity_exponent=0.3
)
IMPRESSION_HEAVY = GenerateConfig(
    videos=40, users=500, days=2, events_per_day=3_000, seed=23, first_day=DAY, min_video_minutes=30
)
ATTACKED = GenerateConfig(videos=60, users=400, days=1, events_per_day=3_000, seed=24, first_day=DAY, attack_share=0.2)


def dump(url: str) -> dict[str, list]:
    with psycopg.connect(url) as conn:
        return {table: conn.execute(query).fetchall() for table, query in DUMPS.items()}


def generated_twice(migrated_database, config: GenerateConfig) -> str:
    """Generates config into two empty databases, checks that they hold the same rows, returns one."""
    first, second = migrated_database(), migrated_database()
    for url in (first, second):
        generate(url, config, progress=False, settings=settings_for(url))
    assert dump(first) == dump(second)
    return first


def test_few_videos_with_many_viewers(migrated_database):
    url = generated_twice(migrated_database, FEW_VIDEOS)
    with psycopg.connect(url) as conn:
        viewers = [n for (n,) in conn.execute("SELECT count(DISTINCT user_id) FROM watch_events GROUP BY video_id")]
        assert len(viewers) == 3 and min(viewers) >= 30
        assert scalar(conn, "SELECT count(*) FROM watch_events") == 2 * 4_000
        # many sessions of one pair in a day: still one at a time, each consistent
        assert session_problems(conn) == (0, 0, 0, 0, 0, 0)


def test_fifty_thousand_videos_most_of_them_watched(migrated_database):
    url = generated_twice(migrated_database, MANY_VIDEOS)
    with psycopg.connect(url) as conn:
        assert scalar(conn, "SELECT count(*) FROM videos") == 50_000
        assert scalar(conn, "SELECT count(DISTINCT video_id) FROM watch_events") >= 300
        assert scalar(conn, "SELECT count(*) FROM video_ads") == scalar(conn, SLOTS)


def test_impression_heavy_every_video_half_an_hour_with_every_slot_filled(generated, migrated_database):
    url = generated_twice(migrated_database, IMPRESSION_HEAVY)
    with psycopg.connect(url) as conn:
        assert scalar(conn, "SELECT min(duration_seconds) FROM videos") >= 30 * 60
        assert scalar(conn, "SELECT max(duration_seconds) FROM videos") <= 60 * 60
        slots = scalar(conn, SLOTS)
        assert slots >= 5 * 40
        assert scalar(conn, "SELECT count(*) FROM video_ads") == slots
        # every slot's ad is active by its contract on every generated day
        inactive = scalar(
            conn,
            """SELECT count(*) FROM video_ads va JOIN ads a ON a.id = va.ad_id
               CROSS JOIN generate_series(%s::date, %s::date, interval '1 day') AS d
               WHERE ad_status_on(a.contract_start, a.contract_end, d::date) <> 'ACTIVE'""",
            (DAY, DAY + dt.timedelta(days=1)),
        )
        assert inactive == 0
        heavy = scalar(conn, "SELECT count(*)::float / (SELECT count(*) FROM watch_events) FROM ad_impressions")
        assert session_problems(conn) == (0, 0, 0, 0, 0, 0)
    with psycopg.connect(generated[0]) as conn:  # the default shape, for comparison
        default = scalar(conn, "SELECT count(*)::float / (SELECT count(*) FROM watch_events) FROM ad_impressions")
    # Honest play reports every ~45 s and passes a slot every 300 s: ~0.15 impressions per event at most.
    assert heavy > 1.3 * default and heavy > 0.1


def test_days_of_their_own_volumes_in_one_catalog(migrated_database):
    url = migrated_database()
    config = GenerateConfig(videos=30, users=300, daily_events=(500, 0, 2_000), seed=25, first_day=DAY)
    report = generate(url, config, progress=False, settings=settings_for(url))
    assert (report.first_day, report.last_day) == (DAY, DAY + dt.timedelta(days=2))
    with psycopg.connect(url) as conn:
        per_day = conn.execute(
            "SELECT (occurred_at AT TIME ZONE 'Asia/Seoul')::date, count(*) FROM watch_events GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert per_day == [(DAY, 500), (DAY + dt.timedelta(days=2), 2_000)]
        assert scalar(conn, "SELECT count(*) FROM videos") == 30


def test_attack_traffic_is_deterministic_and_its_share_of_the_events(migrated_database):
    url = generated_twice(migrated_database, ATTACKED)
    counts = attack_counts(ATTACKED.attack_share, ATTACKED.events_per_day)
    assert sum(counts.values()) == 600 and all(counts.values())
    with psycopg.connect(url) as conn:
        stored = scalar(conn, "SELECT count(*) FROM watch_events")
        copies = scalar(conn, "SELECT count(*) FROM duplicate_events WHERE source = 'watch_events'")
        assert (stored, copies) == (3_000 - counts["copy"], counts["copy"])
        # every copy repeats a recorded key of the same user (the registry's semantics), none is stored twice
        assert (
            scalar(
                conn,
                """SELECT count(*) FROM duplicate_events d
               JOIN watch_event_ids r ON r.event_id = d.event_id AND r.user_id = (d.raw_row ->> 'user_id')::bigint""",
            )
            == copies
        )
        assert scalar(conn, "SELECT count(*) FROM watch_event_ids") == stored
        attackers = scalar(conn, "SELECT count(*) FROM users WHERE username LIKE 'attacker-%%'")
        assert attackers > 0 and scalar(conn, "SELECT count(*) FROM users") == ATTACKED.users + attackers
        from_attackers = scalar(
            conn, "SELECT count(*) FROM watch_events e JOIN users u ON u.id = e.user_id WHERE u.username LIKE 'attacker-%%'"
        )
        assert from_attackers == counts["burst"] + counts["seek"] + counts["limits"]
        self_views = scalar(
            conn, "SELECT count(*) FROM watch_events e JOIN videos v ON v.id = e.video_id AND v.seller_id = e.user_id"
        )
        assert self_views >= counts["self_view"]
        assert scalar(conn, "SELECT count(*) FROM watch_events WHERE position_seconds IN (2147483647, -2147483648)") > 0
        assert scalar(conn, "SELECT count(*) FROM watch_events WHERE video_id = 9223372036854775807") > 0


def test_every_burst_meets_a_pair_with_nothing_in_the_view_window(migrated_database):
    """Bursting accounts take turns by day, so that over several days a burst's pair never has an event
    within the view window before it (the watch credit would then allow more than the slack)."""
    url = migrated_database()
    config = dataclasses.replace(ATTACKED, days=5, events_per_day=2_000)
    generate(url, config, progress=False, settings=settings_for(url))
    window = dt.timedelta(hours=EngineSettings(_env_file=None).view_window_hours)
    slack = EngineSettings(_env_file=None).watched_slack_seconds  # what a burst's reports claim each
    with psycopg.connect(url) as conn:
        gaps = conn.execute(
            """SELECT count(*), min(first_at - previous_last_at) FROM (
                   SELECT first_at, lag(last_at) OVER (PARTITION BY user_id, video_id ORDER BY first_at) AS previous_last_at
                   FROM (SELECT e.user_id, e.video_id, (e.occurred_at AT TIME ZONE 'Asia/Seoul')::date,
                                min(e.occurred_at) AS first_at, max(e.occurred_at) AS last_at
                         FROM watch_events e JOIN users u ON u.id = e.user_id
                         WHERE u.username LIKE 'attacker-%%' AND e.watched_seconds = %s
                         GROUP BY 1, 2, 3) AS pair_days
               ) AS bursts WHERE previous_last_at IS NOT NULL""",
            (slack,),
        ).fetchone()
    bursting_again, shortest_gap = gaps
    assert bursting_again > 0 and shortest_gap >= window


@pytest.fixture(scope="module")
def attacked_and_honest(migrated_database):
    """One day with its share of attack, and the same day's honest events alone, both settled."""
    honest_events = ATTACKED.events_per_day - sum(attack_counts(ATTACKED.attack_share, ATTACKED.events_per_day).values())
    urls = {}
    for label, config in (
        ("attacked", ATTACKED),
        ("honest", dataclasses.replace(ATTACKED, attack_share=0.0, events_per_day=honest_events)),
    ):
        url = urls[label] = migrated_database()
        generate(url, config, progress=False, settings=settings_for(url))
        [run] = pipeline.run_days(settings_for(url), DAY)
        assert run.succeeded, run.error
    return urls


EARNINGS = """
    SELECT video_id, views, ad_views, video_payout, ad_payout, payout, watch_seconds FROM analytics.fct_video_daily
    WHERE settled_on = %s AND (views > 0 OR ad_views > 0 OR payout > 0) ORDER BY video_id"""
AD_EARNINGS = """SELECT video_id, ad_id, ad_views, ad_payout FROM analytics.fct_video_ad_daily
                 WHERE settled_on = %s AND ad_views > 0 ORDER BY 1, 2"""


def test_attack_traffic_earns_nothing_once_settled(attacked_and_honest):
    """Payouts, views and ad views of the attacked day are the honest events' own; the watch time only
    gains what the watch credit grants a burst once: the slack, per pair."""
    with psycopg.connect(attacked_and_honest["attacked"]) as attacked, psycopg.connect(attacked_and_honest["honest"]) as honest:
        earned = {
            label: conn.execute(EARNINGS, (DAY,)).fetchall() for label, conn in (("attacked", attacked), ("honest", honest))
        }
        assert earned["honest"] and [row[:-1] for row in earned["attacked"]] == [row[:-1] for row in earned["honest"]]
        assert attacked.execute(AD_EARNINGS, (DAY,)).fetchall() == honest.execute(AD_EARNINGS, (DAY,)).fetchall()
        watched = {
            label: scalar(conn, "SELECT sum(watch_seconds) FROM analytics.fct_video_daily WHERE settled_on = %s", (DAY,))
            for label, conn in (("attacked", attacked), ("honest", honest))
        }
        attackers_watched, most_per_pair, attackers_views = attacked.execute(
            """SELECT coalesce(sum(p.watched_seconds), 0), coalesce(max(p.watched_seconds), 0), coalesce(sum(p.views), 0)
               FROM analytics.int_pair_daily p JOIN users u ON u.id = p.user_id
               WHERE p.settled_on = %s AND u.username LIKE 'attacker-%%'""",
            (DAY,),
        ).fetchone()
    slack = EngineSettings(_env_file=None).watched_slack_seconds
    bursts_at_most = attack_counts(ATTACKED.attack_share, ATTACKED.events_per_day)["burst"] // BURST_REPORTS[0] + 1
    assert attackers_views == 0 and most_per_pair <= slack
    assert watched["attacked"] - watched["honest"] == attackers_watched
    assert 0 < attackers_watched <= slack * bursts_at_most  # once per burst, not once per report


def test_attack_traffic_is_turned_down_event_by_event(attacked_and_honest):
    counts = attack_counts(ATTACKED.attack_share, ATTACKED.events_per_day)
    with psycopg.connect(attacked_and_honest["attacked"]) as conn:
        reasons = dict(
            conn.execute(
                """SELECT reason, count(*) FROM analytics.fct_quarantined_events
               WHERE settled_on = %s AND source = 'watch_events' GROUP BY 1""",
                (DAY,),
            ).fetchall()
        )
        assert reasons["duplicate_event"] == counts["copy"]
        assert reasons["self_view"] >= counts["self_view"]
        assert reasons["unknown_video"] > 0
        # every burst but its first report, and every value at the limits
        assert reasons["implausible_watch"] >= counts["burst"] - (counts["burst"] // BURST_REPORTS[0] + 1)
        ingested, counted, quarantined = conn.execute(
            "SELECT ingested, counted, quarantined FROM analytics.fct_event_intake_daily WHERE settled_on = %s AND source = 'watch_events'",
            (DAY,),
        ).fetchone()
        assert ingested == ATTACKED.events_per_day == counted + quarantined
        # no impression of an attacker account is an ad view
        assert (
            scalar(
                conn,
                """SELECT count(*) FROM analytics.int_ad_impressions_daily i JOIN users u ON u.id = i.user_id
               WHERE i.settled_on = %s AND u.username LIKE 'attacker-%%' AND i.reason IS NULL""",
                (DAY,),
            )
            == 0
        )
        turned_down = dict(
            conn.execute(
                """SELECT reason, count(*) FROM analytics.int_ad_impressions_daily i JOIN users u ON u.id = i.user_id
               WHERE i.settled_on = %s AND u.username LIKE 'attacker-%%' GROUP BY 1""",
                (DAY,),
            ).fetchall()
        )
        assert {"slot_not_played", "unknown_slot", "unknown_ad", "unknown_video"} <= turned_down.keys()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"min_video_minutes": 0}, "min_video_minutes"),
        ({"daily_events": (10, -1)}, "daily_events"),
        ({"attack_share": 1.5}, "attack_share"),
        ({"attack_share": -0.1}, "attack_share"),
    ],
)
def test_bad_shapes_are_refused_with_a_clear_message(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(IMPRESSION_HEAVY, **change).resolved("Asia/Seoul")
