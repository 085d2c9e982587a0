"""`settlement dbt ...` is dbt itself: its output shows, its exit code is dbt's, --date anywhere."""

from settlement.commands import EXIT_USAGE
from tests.cli.conftest import assert_one_error_line, run_settlement_process


def test_dbt_output_shows_and_the_date_reaches_the_models(migrated_url):
    outcome = run_settlement_process(
        "dbt", "show", "--inline", "select {{ run_date() }} as run_day", "--date", "2026-11-20", DATABASE_URL=migrated_url
    )
    assert outcome.code == 0, outcome.err + outcome.out
    assert "Running with dbt=" in outcome.out and "2026-11-20" in outcome.out


def test_a_failing_dbt_test_shows_why_and_exits_non_zero(fresh_database):
    url = fresh_database("settlement_cli_dbt")  # no schema: dbt's tests cannot pass here
    outcome = run_settlement_process("dbt", "test", "--date", "2026-11-20", "--select", "test_type:unit", DATABASE_URL=url)
    assert outcome.code == 1, outcome.err + outcome.out
    assert "Running with dbt=" in outcome.out and "ERROR" in outcome.out and "unit_test" in outcome.out


def test_a_dbt_usage_error_is_one_line(migrated_url):
    outcome = run_settlement_process("dbt", "test", "--no-such-dbt-option", DATABASE_URL=migrated_url)
    assert_one_error_line(outcome, EXIT_USAGE, "dbt test --no-such-dbt-option", "--no-such-dbt-option")


def test_dbt_alone_asks_for_its_arguments(settlement):
    assert_one_error_line(settlement("dbt"), EXIT_USAGE, "give dbt's arguments", "settlement dbt docs generate")
