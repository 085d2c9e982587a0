"""The ledger's promises under an operator's commands (SPEC.md, "Which days can be settled and closed"),
each as it was broken on 2026-12-01 (issue 21): a rebuild, a --full-refresh that fails, one past day
settled again, a rule changed on the command line. After each: the closed day reads as paid in every
result, and every day is the independent reference's (tests/engine/scenario.py)."""

import datetime as dt
import os

import psycopg
import pytest

from settlement import closing, pipeline, rebuild
from settlement.config import EngineSettings
from settlement.pipeline import invoke_dbt
from tests.engine.scenario import Platform, at, reference_settlement

D1 = dt.date(2026, 11, 16)  # a Monday
D2, D3 = D1 + dt.timedelta(days=1), D1 + dt.timedelta(days=2)
RESULTS = (
    "fct_video_daily",
    "fct_video_ad_daily",
    "fct_video_payable_daily",
    "fct_video_ad_payable_daily",
    "fct_payout_adjustments",
    "fct_video_payouts",
    "fct_video_ad_payouts",
    "rpt_top_videos",
)


@pytest.fixture
def settings(database_url) -> EngineSettings:
    return EngineSettings(_env_file=None, database_url=database_url)


@pytest.fixture
def platform(conn):
    """Two sellers' videos with views and ad views on D1 and D2."""
    p = Platform(conn)
    sellers = [p.user(f"seller{n}", "SELLER") for n in range(2)]
    videos = [p.video(sellers[n % 2], 900) for n in range(3)]
    ad = p.ad(D1 - dt.timedelta(days=5), D3 + dt.timedelta(days=5))
    conn.execute("INSERT INTO video_ads (video_id, ad_id, slot) SELECT unnest(%s::bigint[]), %s, 1", (videos, ad))
    for day in (D1, D2):
        for n, video in enumerate(videos):
            for viewer in range(n + 2):
                user = p.user(f"v{day.day}-{n}-{viewer}")
                p.event("START", user, video, at(day, 10, viewer))
                p.event("PROGRESS", user, video, at(day, 10, viewer + 5), 300, 300)
                p.impression(user, video, ad, 1, at(day, 10, viewer + 5))
    return p, videos


def published(conn, day: dt.date) -> dict:
    """Everything readers see that holds the day: its rows, and the week and month it is in."""
    week, month = day - dt.timedelta(days=day.weekday()), day.replace(day=1)
    shown = {}
    for table in RESULTS:
        if table in ("fct_video_payouts", "fct_video_ad_payouts", "rpt_top_videos"):
            where, params = (
                "period = 'day' AND period_start = %s OR period = 'week' AND period_start = %s OR period = 'month' AND period_start = %s",
                (day, week, month),
            )
        else:
            where, params = f"{'booked_on' if table == 'fct_payout_adjustments' else 'settled_on'} = %s", (day,)
        shown[table] = sorted(map(repr, conn.execute(f"SELECT * FROM analytics.{table} WHERE {where}", params).fetchall()))
    return shown


def assert_settled(results, days) -> None:
    assert [(r.run_date, r.status) for r in results] == [(day, "SUCCEEDED") for day in days], [r.error for r in results]


def assert_reference(conn, p: Platform, days) -> None:
    expected, _ = reference_settlement(p, days)
    actual = {
        (day, video): payout
        for day, video, payout in conn.execute("SELECT settled_on, video_id, payout FROM analytics.fct_video_daily")
    }
    assert actual == {key: row["payout"] for key, row in expected.items()}


def test_a_rebuild_keeps_a_closed_day_in_every_result_as_paid(platform, conn, settings):
    p, _ = platform
    assert_settled(pipeline.run_days(settings, D1, D2), [D1, D2])
    closing.close_days(settings, [D1])
    before = {day: published(conn, day) for day in (D1, D2)}
    assert before[D1]["fct_video_payouts"] and before[D1]["rpt_top_videos"]

    assert_settled(rebuild.rebuild_days(settings, rebuild.plan(conn, D2, D2, settings)), [D1, D2])

    assert {day: published(conn, day) for day in (D1, D2)} == before
    assert_reference(conn, p, [D1, D2])
    rules = dict(conn.execute("SELECT day, rules FROM settled_days").fetchall())
    assert set(rules) == {D1, D2} and rules[D1]["view_window_hours"] == 48 and rules[D1]["price_tiers"]


def test_a_failed_full_refresh_changes_nothing_readers_see_and_loses_nothing(platform, conn, settings, database_url, monkeypatch):
    p, _ = platform
    assert_settled(pipeline.run_days(settings, D1, D2), [D1, D2])
    closing.close_days(settings, [D1])
    before = {day: published(conn, day) for day in (D1, D2)}
    pairs_before = conn.execute(
        "SELECT count(*), sum(views) FROM analytics.int_pair_daily WHERE settled_on = %s", (D1,)
    ).fetchone()

    # A plain `dbt build --full-refresh` of D2 that stops half way: a model waits on a table an operator
    # holds, past its lock timeout (the models before it are built, the ones after it skipped).
    with psycopg.connect(database_url) as holder, monkeypatch.context() as patched:
        holder.execute("LOCK TABLE analytics.int_video_lifetime_daily IN ACCESS EXCLUSIVE MODE")
        patched.setenv("PGOPTIONS", f"{os.environ.get('PGOPTIONS', '')} -c lock_timeout=2s")
        failed = invoke_dbt(database_url, ["build", "--full-refresh"], {"run_date": D2.isoformat()})
        holder.rollback()
    assert not failed.success
    assert {day: published(conn, day) for day in (D1, D2)} == before
    assert (
        conn.execute("SELECT count(*), sum(views) FROM analytics.int_pair_daily WHERE settled_on = %s", (D1,)).fetchone()
        == pairs_before
    )

    # ... and one that succeeds changes nothing either: a run builds its day whole anyway.
    done = invoke_dbt(database_url, ["build", "--full-refresh"], {"run_date": D2.isoformat()})
    assert done.success, done.exception
    assert {day: published(conn, day) for day in (D1, D2)} == before
    assert_settled(pipeline.run_days(settings, D2), [D2])
    assert_reference(conn, p, [D1, D2])


def test_settling_a_past_day_again_settles_the_later_days_after_it(platform, conn, settings, database_url):
    p, videos = platform
    late_viewer = p.user("late")
    p.event("START", late_viewer, videos[0], at(D2, 14))  # a view on D2
    assert_settled(pipeline.run_days(settings, D1, D2), [D1, D2])
    p.event("START", late_viewer, videos[0], at(D1, 23))  # late: D2's START is no view any more

    # plain dbt, for the past day alone, is refused, naming the days that would rest on it as it was
    refused = invoke_dbt(database_url, ["build"], {"run_date": D1.isoformat()})
    assert not refused.success and f"{D2}" in str(refused.exception) and f"settlement run --date {D1}" in str(refused.exception)

    assert_settled(pipeline.run_days(settings, D1), [D1, D2])
    assert_reference(conn, p, [D1, D2])
    lifetime = conn.execute(
        "SELECT views_before FROM analytics.int_video_lifetime_daily WHERE settled_on = %s AND video_id = %s", (D2, videos[0])
    ).fetchone()[0]
    assert lifetime == 3  # D1's three views, the late one included


def test_a_day_left_stale_by_a_stopped_run_is_settled_again_first(platform, conn, settings, database_url):
    p, videos = platform
    assert_settled(pipeline.run_days(settings, D1, D3), [D1, D2, D3])
    p.event("START", p.user("late"), videos[1], at(D1, 20))
    # a run that settled D1 again and stopped before D2 and D3
    with psycopg.connect(database_url, autocommit=True) as run_conn:
        assert pipeline.settle_day(settings, database_url, run_conn, D1, "manual").succeeded
    assert pipeline.plan_days(conn, D3, D3, settings) == [D2, D3]
    assert_settled(pipeline.run_days(settings, D3), [D2, D3])
    assert_reference(conn, p, [D1, D2, D3])


def test_a_rule_changed_on_the_command_line_is_refused_and_recorded(platform, conn, settings, database_url):
    _p, _ = platform
    assert_settled(pipeline.run_days(settings, D1, D2), [D1, D2])
    before = published(conn, D2)

    changed = invoke_dbt(
        database_url, ["build"], {"run_date": D2.isoformat(), "view_window_hours": 1, "watched_slack_seconds": 100_000}
    )
    assert not changed.success
    error = str(changed.exception)
    assert "view_window_hours" in error and "cannot be set on the command line" in error
    run = conn.execute("SELECT status, error FROM pipeline_runs ORDER BY id DESC LIMIT 1").fetchone()
    assert run[0] == "FAILED" and "view_window_hours" in run[1]
    assert published(conn, D2) == before


def test_other_rules_need_every_open_day_settled_again_and_closed_days_keep_theirs(platform, conn, settings):
    p, videos = platform
    assert_settled(pipeline.run_days(settings, D1, D2), [D1, D2])
    closing.close_days(settings, [D1])
    wider = settings.model_copy(update={"view_window_hours": 72})
    with pytest.raises(pipeline.RulesRefused, match=r"view_window_hours is 48 since .*, this run's is 72"):
        pipeline.run_days(wider, D2)
    with pytest.raises(pipeline.RulesRefused, match="view_window_hours"):
        pipeline.run_days(wider, D3)

    assert_settled(rebuild.rebuild_days(wider, rebuild.plan(conn, D2, D2, wider)), [D1, D2])
    rules = {day: rules["view_window_hours"] for day, rules in conn.execute("SELECT day, rules FROM settled_days")}
    assert rules == {D1: 48, D2: 72}
    assert_settled(pipeline.run_days(wider, D3), [D3])
    # ... and a late event of the closed day is settled under its own rules (48 h), then D2 .. D3 under 72 h
    p.event("START", p.user("late"), videos[0], at(D1, 22))
    assert_settled(pipeline.run_days(wider, D3), [D1, D2, D3])
    assert conn.execute("SELECT rules ->> 'view_window_hours' FROM settled_days WHERE day = %s", (D1,)).fetchone()[0] == "48"
