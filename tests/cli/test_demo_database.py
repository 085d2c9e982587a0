"""The demo fills the default database, but never drops one that holds someone's data."""

import uuid

import psycopg

from settlement import db
from settlement.commands import EXIT_FAILED
from settlement.commands.demo import DEMO_MARK, dbt_environment, prepare_demo_database
from tests.cli.conftest import assert_one_error_line


def comment_of(server_url: str, name: str) -> str | None:
    with psycopg.connect(db.with_database(server_url, "postgres")) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row and row[0]


def prepare(server_url: str, name: str) -> str:
    return prepare_demo_database(db.Database(db.with_database(server_url, name), "DATABASE_URL"), server_url, name)


def test_a_database_holding_data_is_left_alone(settlement, fresh_database):
    url = fresh_database("settlement_cli_demo_data")
    assert settlement("db", "upgrade", DATABASE_URL=url).code == 0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (email, username, password_hash, role) VALUES ('someone@example.com', 'someone', 'x', 'USER')"
        )
    outcome = settlement("demo", DATABASE_URL=url)
    assert_one_error_line(
        outcome, EXIT_FAILED, "holds data the demo did not make", "public.users", "settlement demo --database-name"
    )
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 1


def test_a_missing_database_is_created_and_marked(server_url):
    name = f"settlement_cli_demo_{uuid.uuid4().hex[:8]}"
    try:
        assert prepare(server_url, name) == "created"
        assert comment_of(server_url, name) == DEMO_MARK
    finally:
        db.drop_database(server_url, name)


def test_an_empty_database_is_filled_and_a_marked_one_recreated(fresh_database, server_url):
    url = fresh_database("settlement_cli_demo_empty")
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    assert prepare(server_url, name) == "filled (it was empty)"
    assert comment_of(server_url, name) == DEMO_MARK
    with psycopg.connect(url, autocommit=True) as conn:  # the demo's rows, from an earlier demo
        conn.execute("CREATE TABLE demo_rows AS SELECT 1 AS n")
    assert prepare(server_url, name) == "recreated (the demo made it)"
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('demo_rows')").fetchone()[0] is None


def test_a_plain_dbt_build_needs_no_variables_on_the_default_database():
    assert dbt_environment("postgresql://postgres@127.0.0.1:5432/settlement") == ""
    assert dbt_environment("postgresql://postgres@127.0.0.1:5432/other") == "SETTLEMENT_DBT_DBNAME=other "
    assert dbt_environment("postgresql://app:secret@db.example:6432/settlement") == (
        "SETTLEMENT_DBT_HOST=db.example SETTLEMENT_DBT_PORT=6432 SETTLEMENT_DBT_USER=app SETTLEMENT_DBT_PASSWORD='<the password>' "
    )
