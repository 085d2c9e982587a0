"""Plain dbt is a first-class entry point (SPEC.md, "Running it"): from the project root, `dbt build` with
no vars settles yesterday, with the same lease, run record, publish and ordering as `settlement run`.

The real dbt CLI runs as a subprocess with only the database's name set (the profile's defaults do the
rest), against the same generated data as a database settled by `settlement run`."""

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from settlement import clock, migrations, pipeline
from settlement.config import PROJECT_ROOT, EngineSettings
from settlement.generate import GenerateConfig, generate
from tests.engine.published import PUBLISHED

# plain dbt, as a user types it, writes the project's one target/ folder: tests/conftest.py's
# ONE_AT_A_TIME runs this file and the other such on one worker

DBT = str(Path(sys.executable).with_name("dbt"))


def dbt(database_url: str, *args: str, wait: bool = True):
    """The dbt CLI as a user types it in the project root; only the database is named."""
    params = conninfo_to_dict(database_url)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SETTLEMENT_", "DATABASE_URL", "PG"))}
    # the suite's clock (settlement.clock): the variable, and the database option libpq passes on
    env |= {name: os.environ[name] for name in (clock.SHIFT_VARIABLE, "PGOPTIONS") if name in os.environ}
    env.update(
        SETTLEMENT_DBT_DBNAME=params["dbname"],
        SETTLEMENT_DBT_HOST=params.get("host", "127.0.0.1"),
        SETTLEMENT_DBT_PORT=str(params.get("port", 5432)),
    )
    command = [DBT, *args]
    if wait:
        return subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def marts(url: str) -> dict:
    with psycopg.connect(url) as conn:
        return {name: sorted(map(repr, conn.execute(f"SELECT * FROM analytics.{name}").fetchall())) for name in PUBLISHED}


@pytest.fixture(scope="module")
def twin_databases(fresh_database):
    """Two databases with the same two generated days, ending yesterday."""
    urls = []
    for _ in range(2):
        url = fresh_database("settlement_dbt_cli")
        migrations.upgrade(url)
        settings = EngineSettings(_env_file=None, database_url=url)
        yesterday = clock.today(settings.zone) - dt.timedelta(days=1)
        generate(
            url,
            GenerateConfig(
                videos=40, users=400, days=2, events_per_day=4_000, seed=11, first_day=yesterday - dt.timedelta(days=1)
            ),
            progress=False,
            settings=settings,
        )
        urls.append(url)
    return urls, yesterday


def test_plain_dbt_build_settles_yesterday_as_settlement_run_does(twin_databases):
    (by_pipeline, by_dbt), yesterday = twin_databases
    results = pipeline.run_days(EngineSettings(_env_file=None, database_url=by_pipeline), yesterday)
    assert [r.status for r in results] == ["SUCCEEDED", "SUCCEEDED"]

    refused = dbt(by_dbt, "build")  # the day before yesterday is not settled: named, with the command
    assert refused.returncode != 0
    day_before = yesterday - dt.timedelta(days=1)
    assert f"cannot settle {yesterday} yet: {day_before} must be settled first" in refused.stdout, refused.stdout
    assert f"settlement run --date {yesterday}" in refused.stdout

    first = dbt(by_dbt, "build", "--vars", f"{{run_date: {day_before}}}")
    assert first.returncode == 0, first.stdout[-3000:]
    second = dbt(by_dbt, "build")  # nothing set: yesterday
    assert second.returncode == 0, second.stdout[-3000:]
    assert f"published {yesterday}" in second.stdout

    assert marts(by_dbt) == marts(by_pipeline)
    with psycopg.connect(by_dbt) as conn:
        runs = conn.execute("SELECT run_date, trigger, status FROM pipeline_runs ORDER BY id").fetchall()
        settled = [day for (day,) in conn.execute("SELECT day FROM settled_days ORDER BY day")]
    assert runs == [(yesterday, "dbt", "FAILED"), (day_before, "dbt", "SUCCEEDED"), (yesterday, "dbt", "SUCCEEDED")]
    assert settled == [day_before, yesterday]


def test_a_concurrent_run_is_refused_whichever_way_it_starts(twin_databases):
    (_, url), yesterday = twin_databases
    with psycopg.connect(url, autocommit=True) as holder:
        # Readers' side of the publish lock, held exclusively here: the first run waits at its publish,
        # holding the pipeline all that time.
        holder.execute("SELECT pg_advisory_lock(settlement_lock_key('publish'))")
        running = dbt(url, "build", "--vars", f"{{run_date: {yesterday}}}", wait=False)
        try:
            deadline = time.monotonic() + 120
            while not holder.execute(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%%settlement_lock_key(''publish'')%%'"
                " AND pid <> pg_backend_pid()"
            ).fetchone():
                assert time.monotonic() < deadline and running.poll() is None
                time.sleep(0.05)
            second = dbt(url, "build", "--vars", f"{{run_date: {yesterday}}}")
            assert second.returncode != 0 and "another settlement run holds the pipeline" in second.stdout, second.stdout[-2000:]
            with pytest.raises(pipeline.PipelineBusy, match="another settlement run holds the pipeline"):
                pipeline.run_days(EngineSettings(_env_file=None, database_url=url), yesterday)
        finally:
            holder.execute("SELECT pg_advisory_unlock(settlement_lock_key('publish'))")
            output, _ = running.communicate(timeout=600)
    assert running.returncode == 0, output[-3000:]
