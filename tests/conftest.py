"""A fresh PostgreSQL database per test session, on the server the app itself would pick.

DATABASE_URL set: its server. Else a server on 127.0.0.1:5432. Else, with SETTLEMENT_TEST_DOCKER=1,
a testcontainers PostgreSQL. Else an embedded pgserver in .data/pg-test.
"""

import os
import uuid
from pathlib import Path

import psycopg
import pytest

from settlement import db, migrations
from settlement.config import PROJECT_ROOT, Settings

ANALYTICS_SCHEMA = "analytics"
SOURCE_TABLES = ("used_kakao_states", "email_outbox", "email_verifications", "settled_days", "closed_payout_adjustments", "watch_event_ids", "ad_impression_ids", "video_live_periods", "duplicate_events", "closed_video_ad_payouts", "closed_video_payouts", "closed_days", "playback_positions", "ad_impressions", "watch_events", "video_ads", "ads", "videos", "users")


def _test_server_url() -> tuple[str, object | None]:
    settings = Settings(_env_file=None)
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
    """A connection to the session database, emptied first: source tables, run records and every
    table the pipeline built (the dbt schema)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        empty_database(connection)
        yield connection


def empty_database(connection: psycopg.Connection) -> None:
    connection.execute(f"TRUNCATE {', '.join(SOURCE_TABLES)}, pipeline_runs RESTART IDENTITY CASCADE")
    connection.execute(f"DROP SCHEMA IF EXISTS {ANALYTICS_SCHEMA} CASCADE")
    connection.execute("DROP SCHEMA IF EXISTS settlement_build CASCADE")


@pytest.fixture
def test_settings(database_url, tmp_path: Path) -> Settings:
    return Settings(_env_file=None, database_url=database_url, embedded_data_dir=tmp_path / "pg")


# `make test` runs the suite on two xdist workers (-n 2 --dist loadgroup), each module's tests on one
# worker, in order (module fixtures are built once; some modules check what their earlier tests did).
# Modules that share something outside their own database go to one worker together: the local Citus
# cluster's fixed ports (marker citus), and the dbt CLI's default target/ folder in the project root
# (plain `dbt build` as a user types it: those modules mark themselves with that xdist_group).
@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("citus"):
            item.add_marker(pytest.mark.xdist_group("citus"))
        elif not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
