"""A settlement run killed midway leaves the day's previous results readable and intact; the next run
completes it."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest

from settlement import pipeline
from settlement.config import PROJECT_ROOT, EngineSettings
from tests.engine.scenario import Platform, at

D = dt.date(2026, 11, 23)
TABLES = ("fct_video_daily", "fct_video_ad_daily", "fct_video_payouts", "rpt_top_videos", "int_pair_daily")


def dump(conn) -> dict:
    return {table: sorted(map(repr, conn.execute(f"SELECT * FROM analytics.{table}").fetchall())) for table in TABLES}


def wait_for_a_model_mid_build(conn, dbname: str, process: subprocess.Popen, timeout: float = 120) -> str:
    """Polls until the run's dbt connection is inside the transaction that builds a day partition."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run finished before it could be interrupted"
        row = conn.execute(
            """SELECT query FROM pg_stat_activity
               WHERE datname = %s AND xact_start IS NOT NULL AND query ILIKE '%%create table%%\\_\\_new%%'""",
            (dbname,),
        ).fetchone()
        if row:
            return row[0]
        time.sleep(0.01)
    pytest.fail("never saw the run building a partition")


def test_a_killed_run_leaves_the_day_intact_and_the_next_run_completes_it(conn, database_url):
    p = Platform(conn)
    seller, viewer = p.user("seller", "SELLER"), p.user("viewer")
    video = p.video(seller, 600)
    p.event("START", viewer, video, at(D, 10))
    settings = EngineSettings(_env_file=None, database_url=database_url)
    [first] = pipeline.run_days(settings, D)
    assert first.succeeded
    before = dump(conn)

    other = p.user("other")
    p.event("START", other, video, at(D, 11))  # the rerun would change the day
    env = {**os.environ, "DATABASE_URL": database_url}
    run = subprocess.Popen(
        [sys.executable, "-m", "settlement.cli", "run", "--date", D.isoformat()],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_a_model_mid_build(conn, conn.info.dbname, run)
        run.send_signal(signal.SIGKILL)
    finally:
        run.wait(30)

    assert dump(conn) == before  # readable, and as the last finished run left it
    assert conn.execute("SELECT status FROM pipeline_runs ORDER BY id DESC LIMIT 1").fetchone() == ("RUNNING",)

    deadline = time.monotonic() + 30
    while True:  # the killed run's sessions end when the server notices the client is gone
        try:
            results = pipeline.run_days(settings, D)
            break
        except pipeline.PipelineBusy:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert [r.status for r in results] == ["SUCCEEDED"]
    views = conn.execute(
        "SELECT views FROM analytics.fct_video_daily WHERE settled_on = %s AND video_id = %s", (D, video)
    ).fetchone()[0]
    assert views == 2
    statuses = [row[0] for row in conn.execute("SELECT status, error FROM pipeline_runs ORDER BY id")]
    assert statuses == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    leftovers = conn.execute(
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'analytics'::regnamespace AND relname LIKE '%%\\_\\_new'"
    ).fetchone()[0]
    assert leftovers == 0
