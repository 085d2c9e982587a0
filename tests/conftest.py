"""A fresh PostgreSQL database per test session, on the server the app itself would pick, and a clock the
suite sets.

DATABASE_URL set: its server. Else a server on 127.0.0.1:5432. Else, with SETTLEMENT_TEST_DOCKER=1,
a testcontainers PostgreSQL. Else an embedded pgserver in .data/pg-test.

"Now" is SETTLEMENT_TEST_NOW (an ISO 8601 instant with its offset), else SUITE_NOW: the platform's clock
(settlement.clock) is set to it when the session starts, for every process and database session of the
session (pytest-xdist's workers and the servers the tests start inherit it), and keeps ticking from
there. So no test depends on the calendar: `make test` runs the date-sensitive tests (marker calendar)
again under the hard days of HARD_DAYS.
"""

import datetime as dt
import os
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql

from settlement import clock, db, migrations, pipeline, warehouse
from settlement.config import PROJECT_ROOT, EngineSettings

# A Wednesday in the middle of a month, mid-afternoon in Seoul: an ordinary day.
SUITE_NOW = dt.datetime(2026, 11, 25, 15, 0, tzinfo=ZoneInfo("Asia/Seoul"))
if clock.SHIFT_VARIABLE not in os.environ:  # (a worker inherits its controller's clock)
    clock.shift_to(
        dt.datetime.fromisoformat(os.environ["SETTLEMENT_TEST_NOW"]) if os.environ.get("SETTLEMENT_TEST_NOW") else SUITE_NOW
    )

SOURCE_TABLES = (
    "statement_returns",
    "payment_returns",
    "payments",
    "payment_runs",
    "payment_statements",
    "stated_days",
    "payment_months",
    "payment_holds",
    "payout_accounts",
    "seller_tax_registrations",
    "throttle_attempts",
    "password_resets",
    "auth_sessions",
    "used_kakao_states",
    "email_outbox",
    "email_verifications",
    "settled_days",
    "closed_payout_adjustments",
    "watch_event_ids",
    "ad_impression_ids",
    "video_live_periods",
    "duplicate_events",
    "closed_video_ad_payouts",
    "closed_video_payouts",
    "closed_days",
    "playback_positions",
    "ad_impressions",
    "watch_events",
    "video_ads",
    "ads",
    "videos",
    "users",
)


# Tests that one session at a time may run, each group on one worker while the other worker runs the rest:
# the Citus cluster listens on fixed ports; plain dbt, as a user types it, writes the project's one target/.
ONE_AT_A_TIME = {
    "tests/citus/": "tests/citus/",
    "tests/test_demo.py": "plain dbt",
    "tests/engine/test_plain_dbt.py": "plain dbt",
}


# The longest files and groups (a minute or so each), which the workers take first, so that what is left
# at the end is short files that even out the two workers. (xdist takes the files with the most tests
# first: the hard days, one long test each, came last and one worker finished a minute before the other.)
LONGEST_FIRST = (
    "tests/citus/",
    "tests/engine/test_ledger_findings.py",
    "plain dbt",
    "tests/engine/test_publish.py",
    "tests/engine/test_operator_machine.py",
    "tests/engine/test_generated_histories.py",
    "tests/api/test_stats.py",
    "tests/calendar/test_hard_day_",
    "tests/engine/test_closing.py",
)


def longest_first(scope: str) -> int:
    return next((rank for rank, prefix in enumerate(LONGEST_FIRST) if scope.startswith(prefix)), len(LONGEST_FIRST))


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`make test`'s workers (--dist loadfile) take a test file at a time, and each group of ONE_AT_A_TIME
    whole, the longest first. (xdist's own loadgroup does not group on pytest 9: it renames item._nodeid.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FilesAndGroups(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            groups = [group for prefix, group in ONE_AT_A_TIME.items() if nodeid.startswith(prefix)]
            return groups[0] if groups else super()._split_scope(nodeid)

        def _assign_work_unit(self, node) -> None:
            if self.workqueue:  # the next one taken is the first of the queue
                self.workqueue.move_to_end(min(self.workqueue, key=longest_first), last=False)
            super()._assign_work_unit(node)

    return FilesAndGroups(config, log)


# The test files that hold calendar tests, as this session collected them before -m deselected any (read by
# tests/calendar/test_hard_days_listed.py, which otherwise collects the whole suite in a pytest of its own).
CALENDAR_FILES = pytest.StashKey[set[Path]]()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    config.stash[CALENDAR_FILES] = {Path(item.path) for item in items if item.get_closest_marker("calendar")}


def _test_server_url() -> tuple[str, object | None]:
    settings = EngineSettings(_env_file=None)
    if settings.database_url:
        return settings.database_url, None
    if db.server_answers(settings.local_server_host, settings.local_server_port):
        return db.local_server_url(settings), None
    if os.environ.get("SETTLEMENT_TEST_DOCKER") == "1":
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:15", driver=None).start()
        return container.get_connection_url(), container
    return db.embedded_server_url(PROJECT_ROOT / ".data" / "pg-test"), None


@pytest.fixture(scope="session")
def server_url():
    url, container = _test_server_url()
    yield url
    if container is not None:
        container.stop()


@pytest.fixture(scope="session")
def fresh_database(server_url):
    """A factory of empty databases on the test server, all dropped at the end of the session."""
    created = []

    def make(prefix: str = "settlement_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        db.create_database_if_missing(server_url, name)
        created.append(name)
        return db.with_database(server_url, name)

    yield make
    for name in created:
        db.drop_database(server_url, name)


@pytest.fixture(scope="session")
def database_url(fresh_database) -> str:
    """The session's migrated database."""
    url = fresh_database()
    migrations.upgrade(url)
    return url


@pytest.fixture
def conn(database_url):
    """A connection to the session database, emptied first: source tables, run records and every row the
    pipeline built (empty_database)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        empty_database(connection)
        yield connection


def empty_database(connection: psycopg.Connection) -> None:
    """No source row, no run, no settled row: what the engine built stays, empty (its day partitions
    dropped, its other tables truncated), as on any database after its first run, so that a test's first
    run builds the day alone (pipeline.selector_for), not the payments views that read those tables (which
    dropping them took along: 0.4 s a test alone, two or three times that beside the other worker). A test
    that changes a table's columns (tests/engine/test_model_changes.py) rebuilds it before it ends."""
    # Only the tables a test wrote to: TRUNCATE costs per table (new files for it and its indexes), and most
    # tests write to few of the 33 (0.11 s a test for all of them). The others' sequences restart too.
    tables = [*SOURCE_TABLES, "pipeline_runs"]
    written = connection.execute(
        sql.SQL("SELECT array_remove(ARRAY[{}], NULL)").format(
            sql.SQL(", ").join(
                sql.SQL("CASE WHEN EXISTS (SELECT FROM {}) THEN {} END").format(sql.Identifier(table), sql.Literal(table))
                for table in tables
            )
        )
    ).fetchone()[0]
    if written:
        connection.execute(
            sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(sql.SQL(", ").join(map(sql.Identifier, written)))
        )
    connection.execute(
        """SELECT setval(sequence, 1, false) FROM unnest(%s::text[]) AS t(name)
           CROSS JOIN LATERAL (SELECT pg_get_serial_sequence(t.name, a.attname) AS sequence
                               FROM pg_attribute a WHERE a.attrelid = t.name::regclass AND a.attnum > 0
                                 AND NOT a.attisdropped) AS owned
           WHERE sequence IS NOT NULL""",
        (tables,),
    )
    connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(warehouse.BUILD_SCHEMA)))
    built = connection.execute(
        """SELECT n.nspname, c.relname, c.relispartition FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = %s AND c.relkind = 'r'
             AND coalesce(obj_description(c.oid, 'pg_class'), '') NOT LIKE %s""",
        (warehouse.ANALYTICS_SCHEMA, pipeline.DEPLOYED_MARK + "%"),
    ).fetchall()
    partitions = [sql.Identifier(schema, name) for schema, name, is_partition in built if is_partition]
    built_tables = [sql.Identifier(schema, name) for schema, name, is_partition in built if not is_partition]
    if partitions:
        connection.execute(sql.SQL("DROP TABLE {}").format(sql.SQL(", ").join(partitions)))
    if built_tables:
        connection.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(built_tables)))


def drop_what_the_engine_built(connection: psycopg.Connection) -> None:
    """The engine's tables and views gone but the staging views and seeds (which read only the source
    tables): a platform that never settled a day (what depends on the tables, the payments views, goes with
    them)."""
    built = connection.execute(
        """SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
             AND coalesce(obj_description(c.oid, 'pg_class'), '') NOT LIKE %s""",
        (warehouse.ANALYTICS_SCHEMA, pipeline.DEPLOYED_MARK + "%"),
    ).fetchall()
    for name, kind in built:
        keyword = "VIEW" if kind == "v" else "MATERIALIZED VIEW" if kind == "m" else "TABLE"
        connection.execute(
            sql.SQL("DROP {} IF EXISTS {}.{} CASCADE").format(
                sql.SQL(keyword), sql.Identifier(warehouse.ANALYTICS_SCHEMA), sql.Identifier(name)
            )
        )


@pytest.fixture
def never_settled(conn) -> psycopg.Connection:
    """The session database emptied (conn) and without the engine's tables: as before its first run."""
    drop_what_the_engine_built(conn)
    return conn


@pytest.fixture
def test_settings(database_url, tmp_path: Path) -> EngineSettings:
    return EngineSettings(_env_file=None, database_url=database_url, embedded_data_dir=tmp_path / "pg")
