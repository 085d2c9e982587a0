"""The warehouse boundary, in one place: where the engine's results live, how the pipeline's state is
read and changed (settled days, runs and their lease, migration 0011), and the lock keys. The CLI, the
scheduler and the API read through here; the dbt project's hooks call the same SQL functions.
"""

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from settlement.config import ENGINE_DEFAULTS
from settlement.db import one_row

ANALYTICS_SCHEMA = ENGINE_DEFAULTS["analytics_schema"]  # dbt_project.yml: +schema; what readers see
BUILD_SCHEMA = ENGINE_DEFAULTS["build_schema"]  # where a run stages what it publishes


def relation(name: str) -> sql.Identifier:
    """An analytics relation, quoted: relation('fct_video_daily')."""
    return sql.Identifier(ANALYTICS_SCHEMA, name)


def day_table(table: str, day: dt.date) -> str:
    """The name of a table's day, <table>_YYYYMMDD: an event table's partition (ensure_day_partitions,
    migration 0001) or a model's table of the day (macro day_table_name, materializations/table_helpers.sql)."""
    return f"{table}_{day:%Y%m%d}"


def parse_day_table(name: str) -> tuple[str, dt.date]:
    """(table, day) of a day table's name: day_table's inverse."""
    table, _, day = name.rpartition("_")
    return table, dt.datetime.strptime(day, "%Y%m%d").date()


def analytics_sql(query: str) -> sql.Composed:
    """A query that names analytics relations as {name}: each becomes relation(name), e.g.
    analytics_sql("SELECT count(*) FROM {fct_video_daily}"). (A literal brace is written {{ or }}.)"""
    return sql.SQL(query).format(**{name: relation(name) for name in re.findall(r"(?<!\{)\{(\w+)\}", query)})


class Lock(StrEnum):
    """The project's advisory locks that Python takes; settlement_lock_key() (migration 0011) hashes every
    name alike. (The ad-slot lock is the slot functions' own, taken inside them: migration 0003's
    AD_SLOTS_LOCK, another key. The throttle's, 'throttle <key>', is record_throttle_attempt's, in SQL.)"""

    PIPELINE = "pipeline"  # taking the pipeline lease, closing days
    PUBLISH = "publish"  # held by a run's publish; readers of results hold it shared
    PAYMENTS = "payments"  # issuing statements, payment runs, returns and holds: one at a time
    REFRESH_ADS_JOB = "scheduler.refresh_ads"  # the scheduler's jobs: one scheduler at a time runs each
    SETTLE_YESTERDAY_JOB = "scheduler.settle_yesterday"


def lock_key_sql(lock: str) -> sql.Composed:
    """The key expression of a lock, for pg_advisory_* calls."""
    return sql.SQL("settlement_lock_key({})").format(sql.Literal(str(lock)))


# ----------------------------------------------------------------------------------------------------
# Runs and the pipeline lease


class PipelineBusy(RuntimeError):
    """A live run holds the pipeline."""


class DayNotEnded(ValueError):
    """A day that has not ended in the platform's time zone cannot be settled (or closed)."""


def begin_run(conn: psycopg.Connection, day: dt.date, trigger: str, lease_seconds: int, time_zone: str) -> int:
    """Takes the pipeline for settling `day`; the lease lives while this connection's backend does."""
    try:
        run_id: int = one_row(
            conn.execute(
                "SELECT begin_settlement_run(%s, %s, make_interval(secs => %s), %s, pg_backend_pid())",
                (day, trigger, lease_seconds, time_zone),
            )
        )[0]
        return run_id
    except psycopg.errors.LockNotAvailable as exc:
        raise PipelineBusy(exc.diag.message_primary) from None
    except psycopg.errors.InvalidParameterValue as exc:
        raise DayNotEnded(exc.diag.message_primary) from None


def renew_run(conn: psycopg.Connection, run_id: int, lease_seconds: int) -> bool:
    """Extends the run's lease; False when the run no longer holds the pipeline."""
    row = conn.execute(
        """UPDATE pipeline_runs SET heartbeat_at = settlement_clock(),
                  lease_until = greatest(lease_until, settlement_clock() + make_interval(secs => %s))
           WHERE id = %s AND status = 'RUNNING' RETURNING id""",
        (lease_seconds, run_id),
    ).fetchone()
    return row is not None


def fail_run(conn: psycopg.Connection, run_id: int, error: str) -> None:
    """Marks a run FAILED unless it finished already (its dbt invocation may have recorded why)."""
    conn.execute("SELECT finish_settlement_run(%s, 'FAILED', %s, NULL, NULL)", (run_id, error))


@dataclass(frozen=True)
class RunRecord:
    run_id: int
    run_date: dt.date
    status: str
    error: str | None
    row_counts: dict[str, Any]
    quarantined: dict[str, Any]


def run_record(conn: psycopg.Connection, run_id: int) -> RunRecord:
    row = one_row(
        conn.execute("SELECT id, run_date, status, error, row_counts, quarantined FROM pipeline_runs WHERE id = %s", (run_id,))
    )
    return RunRecord(*row)


def days_to_settle_before(
    conn: psycopg.Connection, day: dt.date, horizon_days: int, time_zone: str, slack_seconds: int
) -> list[dt.date]:
    """The days that must be settled, in order, before `day` can be (SQL: days_to_settle_before)."""
    days: list[dt.date] = one_row(
        conn.execute(
            "SELECT days_to_settle_before(%s, %s, %s, make_interval(secs => %s))", (day, horizon_days, time_zone, slack_seconds)
        )
    )[0]
    return days


def closed_day_rules(conn: psycopg.Connection, day: dt.date) -> dict[str, Any] | None:
    """The rules a closed day was settled under (it keeps them when settled again), or None when the day
    is open (it is settled under the configuration's)."""
    row = conn.execute(
        "SELECT s.rules FROM settled_days s JOIN closed_days c ON c.day = s.day WHERE s.day = %s", (day,)
    ).fetchone()
    return row[0] if row else None


def rules_problem(conn: psycopg.Connection, day: dt.date, rules: dict[str, Any], new_rules: bool = False) -> str | None:
    """Why `day` cannot be settled under these rules (SQL: settlement_rules_problem), or None."""
    problem: str | None = one_row(conn.execute("SELECT settlement_rules_problem(%s, %s, %s)", (day, Jsonb(rules), new_rules)))[0]
    return problem


def first_day_with_events(conn: psycopg.Connection, before: dt.date, time_zone: str) -> dt.date | None:
    """The first platform day with watch events before `before`: where settling starts when no day is
    settled (days_to_settle_before reads it the same way), e.g. after a rebuild."""
    first: dt.date | None = one_row(
        conn.execute(
            "SELECT min((occurred_at AT TIME ZONE %s)::date) FROM watch_events WHERE occurred_at < %s::date::timestamp AT TIME ZONE %s",
            (time_zone, before, time_zone),
        )
    )[0]
    return first


def settled_days(conn: psycopg.Connection, first: dt.date | None = None, last: dt.date | None = None) -> list[dt.date]:
    rows = conn.execute(
        "SELECT day FROM settled_days WHERE day >= coalesce(%s, '-infinity'::date) AND day <= coalesce(%s, 'infinity'::date) ORDER BY day",
        (first, last),
    ).fetchall()
    return [day for (day,) in rows]


# ----------------------------------------------------------------------------------------------------
# What a day's results are: pending, settled or closed


class DayStatus(StrEnum):
    PENDING = "pending"  # not settled yet: nothing to read, or an earlier settlement about to change
    SETTLED = "settled"  # settled; late events may still change it
    CLOSED = "closed"  # paid and frozen; later changes arrive as adjustments on an open day


DAY_STATUS_SQL = """
    SELECT d::date AS day,
           CASE WHEN closed.day IS NOT NULL THEN 'closed'
                WHEN settled.day IS NOT NULL THEN 'settled'
                ELSE 'pending' END AS status
    FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d
    LEFT JOIN closed_days AS closed ON closed.day = d::date
    LEFT JOIN settled_days AS settled ON settled.day = d::date
    ORDER BY 1
"""


def day_statuses(conn: psycopg.Connection, first: dt.date, last: dt.date) -> dict[dt.date, DayStatus]:
    rows = conn.execute(DAY_STATUS_SQL, {"first": first, "last": last}).fetchall()
    return {day: DayStatus(status) for day, status in rows}
