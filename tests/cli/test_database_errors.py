"""A database that cannot be used is one line naming it (never its password) and the next step."""

import psycopg
import pytest

from settlement import db, pipeline
from settlement.commands import EXIT_FAILED
from settlement.config import ENGINE_DEFAULTS, EngineSettings
from tests.cli.conftest import assert_one_error_line, closed_port, run_settlement_process


def test_a_closed_port_in_database_url_is_one_line_from_a_real_process():
    port = closed_port()
    outcome = run_settlement_process(
        "run", "--date", "2026-11-20", DATABASE_URL=f"postgresql://postgres:s3cret@127.0.0.1:{port}/settlement"
    )
    line = assert_one_error_line(outcome, EXIT_FAILED, f"127.0.0.1:{port}/settlement", "DATABASE_URL", "Connection refused")
    assert "s3cret" not in outcome.err + outcome.out
    assert "is PostgreSQL running there?" in line


@pytest.mark.parametrize(
    "command",
    [
        ["run", "--date", "2026-11-20"],
        ["close", "--date", "2026-11-20"],
        ["db", "upgrade"],
        ["ads", "refresh"],
        ["serve"],
        ["demo"],
    ],
)
def test_every_command_says_so_for_a_closed_port(settlement, command):
    port = closed_port()
    outcome = settlement(*command, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/settlement")
    assert_one_error_line(outcome, EXIT_FAILED, f"127.0.0.1:{port}", "check DATABASE_URL")


def test_an_unknown_role(settlement, server_url):
    url = db.with_database(server_url, "postgres").replace("postgresql://postgres", "postgresql://no_such_role_7", 1)
    outcome = settlement("run", "--date", "2026-11-20", DATABASE_URL=url)
    assert_one_error_line(outcome, EXIT_FAILED, "role no_such_role_7 does not exist", "createuser no_such_role_7")


def test_an_unknown_database(settlement, server_url):
    outcome = settlement("close", "--date", "2026-11-20", DATABASE_URL=db.with_database(server_url, "no_such_database_7"))
    assert_one_error_line(outcome, EXIT_FAILED, "database no_such_database_7 does not exist", "settlement db upgrade")


def test_an_unmigrated_database_names_the_upgrade(settlement, fresh_database):
    url = fresh_database("settlement_cli_empty")
    for command in (
        ["run", "--date", "2026-11-20"],
        ["close", "--date", "2026-11-20"],
        ["db", "partitions", "--from", "2026-11-01", "--to", "2026-11-02"],
    ):
        outcome = settlement(*command, DATABASE_URL=url)
        assert_one_error_line(outcome, EXIT_FAILED, "has no schema yet", db.describe(url), "run `settlement db upgrade` first")


def test_a_wrong_local_port_is_an_error_not_the_embedded_server(tmp_path):
    port = closed_port()
    outcome = run_settlement_process(
        "db", "url", SETTLEMENT_LOCAL_SERVER_PORT=str(port), SETTLEMENT_EMBEDDED_DATA_DIR=str(tmp_path / "pg")
    )
    assert_one_error_line(outcome, EXIT_FAILED, f"nothing answers on 127.0.0.1:{port}", "SETTLEMENT_LOCAL_SERVER_PORT")
    assert not (tmp_path / "pg").exists() and "pgserver" not in outcome.err


def test_db_downgrade_that_fails_is_one_line(settlement, fresh_database, migrated_url):
    url = fresh_database("settlement_cli_downgrade")
    assert settlement("db", "upgrade", DATABASE_URL=url).code == 0
    with psycopg.connect(url, autocommit=True) as conn:  # a result of the engine's built on a source table
        conn.execute("CREATE SCHEMA analytics")
        conn.execute("CREATE VIEW analytics.stg_users AS SELECT id FROM users")
    outcome = settlement("db", "downgrade", DATABASE_URL=url)
    assert_one_error_line(
        outcome, EXIT_FAILED, "cannot downgrade", "depend on", "the schema is at revision", "DROP SCHEMA analytics"
    )
    assert settlement("db", "downgrade", "no_such_revision", DATABASE_URL=url).code == EXIT_FAILED


def test_verbose_adds_the_traceback(settlement):
    outcome = settlement(
        "--verbose", "run", "--date", "2026-11-20", DATABASE_URL=f"postgresql://postgres@127.0.0.1:{closed_port()}/x"
    )
    assert outcome.code == EXIT_FAILED
    assert "Traceback" in outcome.err and outcome.error_lines[-1].startswith("error: cannot reach")


@pytest.mark.parametrize("variable", ["SETTLEMENT_TIME_ZONE", "SETTLEMENT_TIMEZONE"])  # its name, and the one it had before
def test_an_invalid_setting_is_one_line_naming_the_setting(settlement, variable):
    outcome = settlement("run", "--date", "2026-11-20", **{variable: "Mars/Olympus_Mons"})
    assert_one_error_line(outcome, EXIT_FAILED, "SETTLEMENT_TIME_ZONE:", "Mars/Olympus_Mons")
    assert "SETTLEMENT_SETTLEMENT" not in outcome.err


RENAMED = {  # a rule's setting is named as its dbt var; the environment variable it had before is still read
    "time_zone": ("SETTLEMENT_TIMEZONE", "UTC"),
    "watched_slack_seconds": ("SETTLEMENT_QUALITY_WATCHED_SLACK_SECONDS", 7),
    "ad_slot_seconds": ("SETTLEMENT_AD_SLOT_INTERVAL_SECONDS", 120),
    "clock_skew_seconds": ("SETTLEMENT_PLAYBACK_MAX_CLOCK_SKEW_SECONDS", 60),
}


@pytest.mark.parametrize("name", sorted(RENAMED))
def test_a_rule_setting_has_its_dbt_var_name_and_its_old_variable_still_works(name, monkeypatch):
    old_variable, value = RENAMED[name]
    assert name in pipeline.RULE_NAMES and name in ENGINE_DEFAULTS
    monkeypatch.setenv(f"SETTLEMENT_{name.upper()}", str(value))
    assert pipeline.rules(EngineSettings(_env_file=None))[name] == value
    monkeypatch.delenv(f"SETTLEMENT_{name.upper()}")
    monkeypatch.setenv(old_variable, str(value))
    assert (
        getattr(EngineSettings(_env_file=None), name) == value
        and EngineSettings(_env_file=None, **{name: value}).model_dump()[name] == value
    )


def test_the_embedded_server_starts_quietly_when_nothing_is_configured(settlement, monkeypatch, tmp_path):
    monkeypatch.setattr(db, "server_answers", lambda host, port, timeout=1.0: False)  # nothing on 127.0.0.1:5432
    try:
        outcome = settlement("db", "url")
        assert outcome.code == 0, outcome.err
        assert outcome.out.startswith("postgresql://") and f"{tmp_path}/pg".replace("/", "%2F") in outcome.out
        assert "pgserver" not in outcome.err and len(outcome.error_lines) <= 3, outcome.err
    finally:
        db.stop_embedded_server(tmp_path / "pg")
