"""A day's run builds the day and only those deployed nodes (staging views, seeds, payments views) that are
not in the database as the project has them: pipeline.undeployed and pipeline.selector_for."""

import datetime as dt

import pytest

from settlement import pipeline
from settlement.config import EngineSettings
from tests.engine.scenario import Platform, at

D = dt.date(2026, 11, 23)


@pytest.mark.parametrize(
    ("groups", "selector"),
    [
        (set(), pipeline.DAY_SELECTOR),
        ({"payments"}, pipeline.DAY_AND_PAYMENTS_SELECTOR),
        ({"staging"}, pipeline.SETTLEMENT_SELECTOR),
        ({"seed"}, pipeline.SETTLEMENT_SELECTOR),
        ({"staging", "payments"}, pipeline.SETTLEMENT_SELECTOR),
        ({"seed", "payments"}, pipeline.SETTLEMENT_SELECTOR),
    ],
)
def test_the_run_builds_every_group_not_as_deployed(groups, selector):
    assert pipeline.selector_for(groups) == selector


def test_a_payments_view_gone_or_changed_is_built_again_and_a_changed_staging_view_redeploys_all(conn, database_url):
    p = Platform(conn)
    video = p.video(p.user("seller", "SELLER"), 600)
    p.event("START", p.user("viewer"), video, at(D, 10))
    settings = EngineSettings(_env_file=None, database_url=database_url)
    manifest = pipeline.parsed_project(database_url, pipeline.dbt_vars(settings, D))
    assert [r.status for r in pipeline.run_days(settings, D)] == ["SUCCEEDED"]
    assert pipeline.undeployed(conn, manifest) == set()

    conn.execute("COMMENT ON VIEW analytics.fct_statement_drafts IS 'settlement deployed an older checksum'")
    conn.execute("DROP VIEW analytics.fct_seller_balances")
    assert pipeline.undeployed(conn, manifest) == {"payments"}
    assert [r.status for r in pipeline.run_days(settings, D)] == ["SUCCEEDED"]  # the day and the payments views
    assert pipeline.undeployed(conn, manifest) == set()
    assert conn.execute("SELECT to_regclass('analytics.fct_seller_balances') IS NOT NULL").fetchone() == (True,)
    views = conn.execute("SELECT views FROM analytics.fct_video_payouts WHERE period = 'day' AND period_start = %s", (D,))
    assert views.fetchone() == (1,)

    conn.execute("COMMENT ON VIEW analytics.stg_platform__videos IS 'settlement deployed an older checksum'")
    conn.execute("TRUNCATE analytics.price_tiers")
    assert pipeline.undeployed(conn, manifest) == {"staging"}
    assert [r.status for r in pipeline.run_days(settings, D)] == ["SUCCEEDED"]  # the whole project again
    assert pipeline.undeployed(conn, manifest) == set()
    assert conn.execute("SELECT count(*) > 0 FROM analytics.price_tiers").fetchone() == (True,)
