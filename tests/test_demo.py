import datetime as dt
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher
from psycopg.conninfo import conninfo_to_dict

from settlement import db, migrations
from settlement.commands.demo import demo_last_day
from settlement.config import PROJECT_ROOT, EngineSettings
from tests.cli.conftest import DATABASE_VARIABLES, SETTLEMENT_BIN
from tests.engine.scenario import Event, Impression, Platform, Video, reference_intake, reference_settlement

# plain dbt, as a user types it, writes the project's one target/ folder: tests/conftest.py's
# ONE_AT_A_TIME runs this file and the other such on one worker


def demo_platform(url: str) -> Platform:
    """The demo database's source rows, as the reference implementation reads them: every event sent,
    copies included, in the order they arrived."""
    platform = Platform(conn=None)
    with psycopg.connect(url) as conn:
        platform.events = [
            Event(*row)
            for row in conn.execute(
                """SELECT event_id, kind, user_id, video_id, occurred_at, position_seconds, watched_seconds, received_at
                   FROM watch_events ORDER BY received_at, event_id"""
            )
        ]
        platform.impressions = [
            Impression(*row)
            for row in conn.execute(
                """SELECT event_id, user_id, video_id, ad_id, slot, occurred_at, received_at
                   FROM ad_impressions ORDER BY received_at, event_id"""
            )
        ]
        periods = defaultdict(list)
        for video_id, live_from, live_until in conn.execute("SELECT video_id, live_from, live_until FROM video_live_periods"):
            periods[video_id].append((live_from, live_until))
        platform.videos = {
            row[0]: Video(row[1], row[2], periods[row[0]])
            for row in conn.execute("SELECT id, seller_id, duration_seconds FROM videos")
        }
        platform.ads = {row[0]: row[1:] for row in conn.execute("SELECT id, contract_start, contract_end FROM ads")}
        assert conn.execute("SELECT count(*) FROM duplicate_events").fetchone()[0] == 0  # the generator sends none
    return platform


@pytest.fixture(scope="module")
def demo(fresh_database):
    """`settlement demo` as `make demo` runs it, filling the database the next commands use (here DATABASE_URL's)."""
    url = fresh_database("settlement_demo_test")
    shell = {
        name: value
        for name, value in os.environ.items()
        if name not in DATABASE_VARIABLES and not name.startswith("SETTLEMENT_DBT_")
    }
    env = {**shell, "DATABASE_URL": url}
    result = subprocess.run([SETTLEMENT_BIN, "demo"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return url, env, result.stdout


def last_demo_day() -> dt.date:
    """The demo's last day: the last day of last month (so that its month is over, closed and paid)."""
    return demo_last_day(EngineSettings(_env_file=None))


def test_demo_settles_its_days_and_prints_the_results(demo):
    url, _, out = demo
    yesterday = last_demo_day()
    assert f"demo database: {db.describe(url)} (DATABASE_URL), filled (it was empty)" in out
    settled_days = [dt.date.fromisoformat(day) for day in re.findall(r"^\[\d+/2\] (\S+) SUCCEEDED", out, re.MULTILINE)]
    assert settled_days == [yesterday - dt.timedelta(days=1), yesterday]

    expected, _ = reference_settlement(demo_platform(url), settled_days)
    day_rows = [row for (day, _), row in expected.items() if day == yesterday]
    total = sum(row["payout"] for row in day_rows)
    assert total > 0 and len(day_rows) > 100  # the demo day is not trivially empty
    assert f"{yesterday}: total payout {total:,} KRW over {len(day_rows):,} videos" in out
    assert out.count("  1. video") == 2 and out.count("  5. video") == 2
    # what came in, what counted and what was quarantined per reason, as the reference judges it
    for source, (ingested, counted, by_reason) in reference_intake(demo_platform(url), yesterday).items():
        quarantined = ", ".join(f"{reason} {n:,}" for reason, n in sorted(by_reason.items())) or "none"
        assert f"{source}: {ingested:,} in, {counted:,} counted, quarantined: {quarantined}" in out


def next_steps(out: str) -> list[str]:
    """The commands the demo says to type next."""
    block = out.split("\nnext:\n", 1)[1].split("\n(", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def next_step(out: str, ending: str) -> str:
    [command] = [command for command in next_steps(out) if command.endswith(ending)]
    return command


def type_in_a_shell(command: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_the_next_commands_are_printed_as_they_can_be_typed(demo):
    _, _, out = demo
    yesterday = last_demo_day()
    bin_dir = Path(sys.executable).parent.relative_to(PROJECT_ROOT)
    assert next_steps(out) == [
        f"{bin_dir}/settlement run --date {yesterday}",
        # not the profile's default database
        f"SETTLEMENT_DBT_DBNAME={conninfo_to_dict(demo[0])['dbname']} {bin_dir}/dbt build --vars '{{run_date: {yesterday}}}'",
        f"{bin_dir}/settlement pay --month {yesterday:%Y-%m}",
        f"{bin_dir}/settlement serve",
    ]
    assert "(with DATABASE_URL set as it is now: the settlement commands use it)" in out


def test_settlement_run_as_printed_settles_the_demo_day_again(demo):
    url, env, out = demo
    yesterday = last_demo_day()
    rerun = type_in_a_shell(next_step(out, f"settlement run --date {yesterday}"), env)
    assert rerun.returncode == 0, rerun.stderr
    summary = re.search(rf"^{yesterday}: total payout .*$", out, re.MULTILINE).group(0)
    assert summary in rerun.stdout  # a rerun gives the same result
    assert migrations.schema_problem(url) is None  # what `settlement serve` requires


def test_a_plain_dbt_build_as_printed_settles_the_demo_day(demo):
    url, env, out = demo
    yesterday = last_demo_day()
    plain = {name: value for name, value in env.items() if name != "DATABASE_URL"}  # only what the demo printed
    build = type_in_a_shell(next_step(out, f"dbt build --vars '{{run_date: {yesterday}}}'"), plain)
    assert build.returncode == 0, build.stdout[-3000:]
    with psycopg.connect(url) as conn:
        last = conn.execute("SELECT run_date, trigger, status FROM pipeline_runs ORDER BY id DESC LIMIT 1").fetchone()
    assert last == (yesterday, "dbt", "SUCCEEDED")


def test_the_demo_prints_a_studio_login_that_works(demo):
    url, _, out = demo
    email, password = re.search(r"^studio: http://127.0.0.1:8000/studio   sign in as (\S+) / (\S+)", out, re.MULTILINE).groups()
    with psycopg.connect(url) as conn:
        password_hash = conn.execute("SELECT password_hash FROM users WHERE email = %s AND role = 'SELLER'", (email,)).fetchone()[
            0
        ]
    assert PasswordHasher().verify(password_hash, password)


def test_the_demo_closes_its_month_issues_the_statements_and_runs_the_payments(demo):
    url, env, out = demo
    last = last_demo_day()
    with psycopg.connect(url) as conn:
        closed = [row[0] for row in conn.execute("SELECT day FROM closed_days ORDER BY day")]
        statements, payable, carried, withheld = conn.execute(
            """SELECT count(*), count(*) FILTER (WHERE payable), coalesce(sum(carried_out), 0), coalesce(sum(withholding), 0)
               FROM payment_statements WHERE month = %s""",
            (last.replace(day=1),),
        ).fetchone()
        paid = conn.execute("SELECT count(*), coalesce(sum(amount), 0) FROM payments").fetchone()
    assert closed == [last - dt.timedelta(days=1), last] and statements > 50
    assert (
        f"payments: {last:%Y-%m} closed (2 days, {closed[0]} .. {last}; the platform's first settled day starts it), "
        f"{statements:,} statements issued: {payable:,} payable" in out
    )
    assert f"{int(carried):,} KRW), {int(withheld):,} KRW withheld" in out
    if paid[0]:
        assert f"{paid[0]:,} transfers, {int(paid[1]):,} KRW" in out
    else:
        assert "payment run: nothing to pay, no statement reaches the payment threshold yet" in out
    assert "payments: http://127.0.0.1:8000/studio/payments" in out
    again = type_in_a_shell(next_step(out, f"settlement pay --month {last:%Y-%m}"), env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"nothing to pay for {last:%Y-%m} and before")
