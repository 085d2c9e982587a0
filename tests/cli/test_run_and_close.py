"""Only days that have ended can be settled, only settled days can be closed; a run says its plan and
its progress, and asks for --yes above the bound."""

import datetime as dt
import re

import psycopg
import pytest

from settlement import clock, warehouse
from settlement.commands import EXIT_BUSY, EXIT_FAILED, EXIT_USAGE
from tests.cli.conftest import assert_one_error_line
from tests.conftest import empty_database

TIME_ZONE = "Asia/Seoul"


@pytest.fixture
def url(migrated_url) -> str:
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        empty_database(conn)
    return migrated_url


def today() -> dt.date:
    return clock.today(TIME_ZONE)


@pytest.mark.calendar
@pytest.mark.parametrize("command", ["run", "close"])
@pytest.mark.parametrize("days_ahead", [0, 1, 1000])
def test_today_and_future_days_are_refused(settlement, url, command, days_ahead):
    day = today() + dt.timedelta(days=days_ahead)
    outcome = settlement(command, "--date", str(day), DATABASE_URL=url)
    when = "today" if days_ahead == 0 else "in the future"
    assert_one_error_line(
        outcome,
        EXIT_USAGE,
        f"cannot {'settle' if command == 'run' else 'close'} {day}",
        f"is {when} in {TIME_ZONE}",
        str(today() - dt.timedelta(days=1)),
    )
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM pipeline_runs").fetchone()[0] == 0  # nothing was started


@pytest.mark.calendar
def test_a_range_ending_in_the_future_names_the_range_that_can_be_settled(settlement, url):
    first = today() - dt.timedelta(days=3)
    outcome = settlement("run", "--from", str(first), "--to", str(today() + dt.timedelta(days=30)), DATABASE_URL=url)
    assert_one_error_line(outcome, EXIT_USAGE, f"settlement run --from {first} --to {today() - dt.timedelta(days=1)}")


def test_a_reversed_range_is_refused(settlement, url):
    outcome = settlement("run", "--from", "2026-11-23", "--to", "2026-11-20", DATABASE_URL=url)
    assert_one_error_line(
        outcome, EXIT_USAGE, "--from 2026-11-23 is after --to 2026-11-20", "settlement run --from 2026-11-20 --to 2026-11-23"
    )


def test_date_with_from_or_to_is_refused(settlement, url):
    for extra in (["--from", "2026-11-19"], ["--to", "2026-11-21"]):
        outcome = settlement("run", "--date", "2026-11-20", *extra, DATABASE_URL=url)
        assert_one_error_line(outcome, EXIT_USAGE, "either --date or --from/--to, not both")


def test_a_bad_date_or_option_is_a_usage_error_in_the_same_style(settlement):
    assert_one_error_line(
        settlement("run", "--date", "2026-13-01"), EXIT_USAGE, "not a date (YYYY-MM-DD): '2026-13-01'", "settlement run --help"
    )
    assert_one_error_line(settlement("close", "--dat", "2026-11-20"), EXIT_USAGE, "--dat", "settlement close --help")
    assert_one_error_line(settlement("close"), EXIT_USAGE, "either --date or --month")
    assert_one_error_line(settlement("close", "--month", "2026-13"), EXIT_USAGE, "not a month")


def test_a_run_above_the_bound_asks_for_yes(settlement, url):
    first, last = today() - dt.timedelta(days=12), today() - dt.timedelta(days=3)
    outcome = settlement("run", "--from", str(first), "--to", str(last), DATABASE_URL=url)
    assert f"settling {first} .. {last}: 10 days" in outcome.out
    assert_one_error_line(
        outcome, EXIT_USAGE, "10 days to settle, more than 7", f"settlement run --from {first} --to {last} --yes"
    )
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM pipeline_runs").fetchone()[0] == 0
    # the bound is a setting
    outcome = settlement("run", "--from", str(first), "--to", str(last), DATABASE_URL=url, SETTLEMENT_RUN_CONFIRM_DAYS="3")
    assert_one_error_line(outcome, EXIT_USAGE, "more than 3 (SETTLEMENT_RUN_CONFIRM_DAYS)")


def test_a_run_shows_its_plan_and_progress_then_the_day(settlement, url):
    first, last = today() - dt.timedelta(days=3), today() - dt.timedelta(days=2)
    outcome = settlement("run", "--from", str(first), "--to", str(last), DATABASE_URL=url)
    assert outcome.code == 0, outcome.err
    lines = outcome.out.splitlines()
    assert lines[0] == f"settling {first} .. {last}: 2 days"
    assert re.fullmatch(rf"\[1/2\] {first} SUCCEEDED \d+\.\d s \(elapsed \d+\.\d s, about \d+\.\d s left\)", lines[1]), lines[1]
    assert re.fullmatch(rf"\[2/2\] {last} SUCCEEDED \d+\.\d s \(elapsed \d+\.\d s\)", lines[2]), lines[2]
    assert f"{last}: total payout 0 KRW over 0 videos" in outcome.out

    # a settled day closes, once
    outcome = settlement("close", "--date", str(first), DATABASE_URL=url)
    assert (outcome.code, outcome.out) == (0, f"closed {first}\n"), outcome.err
    outcome = settlement("close", "--date", str(first), DATABASE_URL=url)
    assert_one_error_line(outcome, EXIT_FAILED, f"already closed: {first}")


@pytest.mark.calendar
def test_the_days_that_must_be_settled_first_are_in_the_plan(settlement, url):
    day = today() - dt.timedelta(days=1)
    first_needed = day - dt.timedelta(days=3)
    settled = first_needed - dt.timedelta(days=1)
    with psycopg.connect(url, autocommit=True) as conn:  # settled by a run of its own, three days ago
        run_id = warehouse.begin_run(conn, settled, "manual", 600, TIME_ZONE)
        conn.execute(
            "INSERT INTO settled_days (day, run_id, run_started_at) SELECT run_date, id, started_at FROM pipeline_runs WHERE id = %s",
            (run_id,),
        )
    outcome = settlement("run", DATABASE_URL=url, SETTLEMENT_RUN_CONFIRM_DAYS="1")  # yesterday, by default
    assert outcome.out.splitlines()[0] == (
        f"settling {first_needed} .. {day}: 4 days ({first_needed} .. {day - dt.timedelta(days=1)} first: not settled yet, "
        "settled again before it, or events arrived after they were)"
    )
    assert_one_error_line(outcome, EXIT_USAGE, "4 days to settle, more than 1", "to go ahead: settlement run --date")


def test_a_busy_pipeline_exits_75(settlement, url):
    day = today() - dt.timedelta(days=1)
    with psycopg.connect(url, autocommit=True) as holder:
        warehouse.begin_run(holder, day, "manual", 600, TIME_ZONE)
        outcome = settlement("run", "--date", str(day), DATABASE_URL=url)
    assert_one_error_line(outcome, EXIT_BUSY, "another settlement run holds the pipeline", "try again when it has finished")


@pytest.mark.calendar
def test_an_unsettled_day_cannot_be_closed(settlement, url):
    day = today() - dt.timedelta(days=5)
    outcome = settlement("close", "--date", str(day), DATABASE_URL=url)
    assert_one_error_line(outcome, EXIT_FAILED, f"cannot close {day}: not settled", f"settle first: settlement run --date {day}")
    outcome = settlement("close", "--month", "2026-01", DATABASE_URL=url)
    assert_one_error_line(
        outcome,
        EXIT_FAILED,
        "cannot close 31 days, 2026-01-01 .. 2026-01-31: not settled",
        "settlement run --from 2026-01-01 --to 2026-01-31",
    )
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM closed_days").fetchone()[0] == 0
