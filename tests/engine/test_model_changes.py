"""A model whose columns changed does not quietly mix old and new rows: the run stops and says how to
rebuild, and the rebuild settles every day again with the new columns."""

import datetime as dt

import pytest

from settlement import pipeline, rebuild
from settlement.config import EngineSettings
from tests.engine.scenario import Platform, at

D = dt.date(2026, 11, 23)


def columns(conn, table: str) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'analytics' AND table_name = %s",
            (table,),
        )
    ]


@pytest.mark.parametrize("table", ["fct_video_daily", "fct_video_payouts"])  # day_partition, period_slice
def test_a_changed_model_stops_the_run_until_rebuilt(conn, database_url, table):
    p = Platform(conn)
    video = p.video(p.user("seller", "SELLER"), 600)
    p.event("START", p.user("viewer"), video, at(D, 10))
    settings = EngineSettings(_env_file=None, database_url=database_url)
    assert [r.status for r in pipeline.run_days(settings, D)] == ["SUCCEEDED"]
    conn.execute(f"ALTER TABLE analytics.{table} ADD COLUMN retired_measure integer")  # as an older model had it
    before = conn.execute(f"SELECT count(*) FROM analytics.{table}").fetchone()

    [stopped] = pipeline.run_days(settings, D)

    assert stopped.status == "FAILED"
    assert f"{table}'s columns changed" in stopped.error and "settlement run --rebuild" in stopped.error
    assert conn.execute(f"SELECT count(*) FROM analytics.{table}").fetchone() == before

    assert [r.status for r in rebuild.rebuild_days(settings, rebuild.plan(conn, D, D, settings))] == ["SUCCEEDED"]
    assert "retired_measure" not in columns(conn, table)
    views = conn.execute("SELECT views FROM analytics.fct_video_payouts WHERE period = 'day' AND period_start = %s", (D,))
    assert views.fetchone() == (1,)


def test_a_day_table_dropped_by_hand_stops_the_run_instead_of_counting_its_days_twice(conn, database_url):
    """Found 2026-12-03: with fct_video_payable_daily dropped (as a DBA might, instead of a rebuild), the
    next run of the day moved the published periods by the whole day again: 2 views for 1."""
    p = Platform(conn)
    video = p.video(p.user("seller", "SELLER"), 600)
    p.event("START", p.user("viewer"), video, at(D, 10))
    settings = EngineSettings(_env_file=None, database_url=database_url)
    assert [r.status for r in pipeline.run_days(settings, D)] == ["SUCCEEDED"]
    conn.execute("DROP TABLE analytics.fct_video_payable_daily CASCADE")

    [stopped] = pipeline.run_days(settings, D)

    assert stopped.status == "FAILED"
    assert "fct_video_payouts holds periods summed from days" in stopped.error and "settlement run --rebuild" in stopped.error
    views = "SELECT period, views FROM analytics.fct_video_payouts ORDER BY period"
    assert conn.execute(views).fetchall() == [("day", 1), ("month", 1), ("week", 1)]  # as published
    assert [r.status for r in rebuild.rebuild_days(settings, rebuild.plan(conn, D, D, settings))] == ["SUCCEEDED"]
    assert conn.execute(views).fetchall() == [("day", 1), ("month", 1), ("week", 1)]
