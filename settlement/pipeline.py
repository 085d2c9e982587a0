"""Settling platform days: runs the dbt project for one day at a time, in order, recording each run
in pipeline_runs. One run at a time per database (a PostgreSQL advisory lock)."""

import datetime as dt
import json
import logging
import os
import time
from dataclasses import dataclass, field

from zoneinfo import ZoneInfo

import psycopg
from psycopg.conninfo import conninfo_to_dict

from settlement import db, migrations
from settlement.config import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

PIPELINE_LOCK = "settlement.pipeline"
# Held exclusively while a day's marts are written, and shared by every API read of results, so a
# read sees each day's marts all old or all new, never some of each (each model commits on its own).
PUBLISH_LOCK = "settlement.publish"
MARTS = "path:models/marts"
# Its partitions are the days already settled; settling a day needs the day before it.
LIFETIME_MODEL = "analytics.int_video_lifetime_daily"


class PipelineBusy(RuntimeError):
    """Another run holds the pipeline lock on this database."""


@dataclass
class RunResult:
    run_id: int
    run_date: dt.date
    status: str  # SUCCEEDED | FAILED
    seconds: float
    row_counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    quarantined: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


def yesterday(settings: Settings) -> dt.date:
    return dt.datetime.now(settings.zone).date() - dt.timedelta(days=1)


# Server options for dbt's sessions (libpq reads PGOPTIONS; dbt-postgres's profile has no such field).
# The pipeline's statements run for seconds, and JIT compiling them cost 0.2-1 s each and saved less.
DBT_SESSION_OPTIONS = "-c jit=off"
_USER_PGOPTIONS = os.environ.get("PGOPTIONS", "")


def dbt_environment(database_url: str) -> dict[str, str]:
    """The profile's connection variables (profiles.yml reads these) for a database URL."""
    params = conninfo_to_dict(database_url)
    return {
        "PGOPTIONS": f"{_USER_PGOPTIONS} {DBT_SESSION_OPTIONS}".strip(),
        "SETTLEMENT_DBT_HOST": str(params.get("host", "127.0.0.1")),
        "SETTLEMENT_DBT_PORT": str(params.get("port", "5432")),
        "SETTLEMENT_DBT_USER": str(params.get("user", "postgres")),
        "SETTLEMENT_DBT_PASSWORD": str(params.get("password", "")),
        "SETTLEMENT_DBT_DBNAME": str(params["dbname"]),
    }


def dbt_vars(settings: Settings, day: dt.date | None) -> dict:
    variables = {
        "time_zone": settings.timezone,
        "view_window_hours": settings.view_window_hours,
        # Ad slot k plays at k times this.
        "ad_slot_seconds": settings.ad_slot_interval_seconds,
        # The quality gate: what a plausible event looks like.
        "watched_slack_seconds": settings.quality_watched_slack_seconds,
        "clock_skew_seconds": settings.playback_max_clock_skew_seconds,
        "late_event_horizon_days": settings.late_event_horizon_days,
    }
    if day is not None:
        variables["run_date"] = day.isoformat()
    return variables


class PipelineError(RuntimeError):
    """dbt could not even start (the project does not parse, the database does not answer)."""


def invoke_dbt(database_url: str, args: list[str], variables: dict, quiet: bool = True, manifest=None):
    """Runs dbt in-process against database_url; returns dbt's dbtRunnerResult. With a manifest from an
    earlier parse, dbt skips parsing the project (seconds per run)."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_environment(database_url))
    # One target folder per database, so runs against different databases never share dbt's state.
    target = PROJECT_ROOT / "target" / conninfo_to_dict(database_url)["dbname"]
    common = [
        "--project-dir", str(PROJECT_ROOT),
        "--profiles-dir", str(PROJECT_ROOT),
        "--target-path", str(target),
        "--log-path", str(target / "logs"),
        "--vars", json.dumps(variables),
    ]
    log_level = ["--log-level", "warn"] if quiet else []
    return dbtRunner(manifest=manifest).invoke([*log_level, *args, *common])


# Parsed dbt projects, per database (the manifest names the database). Vars are applied when a
# model is compiled, so one parse serves every run date.
_manifests: dict[str, object] = {}


def parsed_project(database_url: str, variables: dict):
    if database_url not in _manifests:
        result = invoke_dbt(database_url, ["parse"], variables)
        if not result.success:
            raise PipelineError(f"the dbt project does not parse: {result.exception}")
        _manifests[database_url] = result.result
    return _manifests[database_url]


def settled_days(conn: psycopg.Connection) -> list[dt.date]:
    rows = conn.execute(
        """SELECT to_date(right(c.relname, 8), 'YYYYMMDD')
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = to_regclass(%s)
           ORDER BY 1""",
        (LIFETIME_MODEL,),
    ).fetchall()
    return [row[0] for row in rows]


def earliest_event_day(conn: psycopg.Connection, before: dt.date, time_zone: str) -> dt.date | None:
    """The first platform day before `before` with any watch event, looking only at non-empty partitions."""
    partitions = conn.execute(
        """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'watch_events'::regclass ORDER BY c.relname"""
    ).fetchall()
    earliest = None
    for (name,) in partitions:
        if name == "watch_events_default":
            continue
        day = dt.datetime.strptime(name.rsplit("_", 1)[1], "%Y%m%d").date()
        if day < before and conn.execute(f'SELECT EXISTS (SELECT 1 FROM "{name}")').fetchone()[0]:
            earliest = day
            break
    in_default = conn.execute(
        "SELECT min((occurred_at AT TIME ZONE %s)::date) FROM watch_events_default", (time_zone,)
    ).fetchone()[0]
    candidates = [day for day in (earliest, in_default) if day is not None and day < before]
    return min(candidates, default=None)


def day_bounds(day: dt.date, time_zone: str) -> tuple[dt.datetime, dt.datetime]:
    zone = ZoneInfo(time_zone)
    start = dt.datetime.combine(day, dt.time(), zone)
    return start, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)


def first_day_with_late_events(
    conn: psycopg.Connection, before: dt.date, horizon_days: int, time_zone: str
) -> dt.date | None:
    """The earliest settled day, within the horizon before `before`, with events that arrived after
    its last successful settlement started (the received_at BRIN indexes keep each look cheap)."""
    last_settled = conn.execute(
        """SELECT run_date, max(started_at) FROM pipeline_runs
           WHERE status = 'SUCCEEDED' AND run_date >= %s AND run_date < %s
           GROUP BY run_date ORDER BY run_date""",
        (before - dt.timedelta(days=horizon_days), before),
    ).fetchall()
    for day, settled_at in last_settled:
        start, end = day_bounds(day, time_zone)
        for table in ("watch_events", "ad_impressions"):
            late = conn.execute(
                f"""SELECT EXISTS (SELECT 1 FROM {table}
                                   WHERE occurred_at >= %s AND occurred_at < %s AND received_at > %s)""",
                (start, end, settled_at),
            ).fetchone()[0]
            if late:
                return day
    return None


def plan_days(
    conn: psycopg.Connection, first: dt.date, last: dt.date, time_zone: str, horizon_days: int = 40
) -> list[dt.date]:
    """The days to settle so that first..last are settled on a complete history: each day needs the
    lifetime views through the day before it, so unsettled earlier days with data come first, and so
    do settled days that received late events (from the first of them on)."""
    settled = settled_days(conn)
    earlier = [day for day in settled if day < first]
    if earlier:
        start = min(earlier[-1] + dt.timedelta(days=1), first)
    else:
        start = min(earliest_event_day(conn, first, time_zone) or first, first)
    if start < first:
        log.warning("settling %s .. %s first: earlier days with data are not settled yet", start, first - dt.timedelta(days=1))
    late = first_day_with_late_events(conn, start, horizon_days, time_zone)
    if late is not None:
        log.warning("settling %s .. %s again first: late events arrived for %s", late, start - dt.timedelta(days=1), late)
        start = late
    later = [day for day in settled if day > last]
    if later:
        log.warning("days after %s were settled already (%s .. %s); rerun them if their inputs changed", last, later[0], later[-1])
    return [start + dt.timedelta(days=offset) for offset in range((last - start).days + 1)]


def _try_lock(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (name,)).fetchone()[0]


def _start_run(conn: psycopg.Connection, day: dt.date, trigger: str) -> int:
    return conn.execute(
        "INSERT INTO pipeline_runs (run_date, trigger) VALUES (%s, %s) RETURNING id", (day, trigger)
    ).fetchone()[0]


def _finish_run(conn: psycopg.Connection, result: RunResult) -> None:
    conn.execute(
        """UPDATE pipeline_runs SET finished_at = clock_timestamp(), status = %s, row_counts = %s, error = %s,
                  quarantined = %s
           WHERE id = %s""",
        (result.status, json.dumps(result.row_counts), result.error, json.dumps(result.quarantined), result.run_id),
    )


def quarantined_by_source(conn: psycopg.Connection, day: dt.date) -> dict[str, dict[str, int]]:
    """What the quality gate turned down on a settled day, per source and reason."""
    rows = conn.execute(
        "SELECT source, quarantined_by_reason FROM analytics.fct_event_intake_daily WHERE settled_on = %s", (day,)
    ).fetchall()
    return {source: by_reason for source, by_reason in rows}


def _summarise(dbt_result) -> tuple[dict[str, int], str | None]:
    """Rows written per model, and what went wrong (None when all went well)."""
    counts, problems = {}, []
    for node_result in getattr(dbt_result.result, "results", None) or []:
        node = node_result.node
        status = str(node_result.status)
        if node.resource_type == "model":
            rows = (node_result.adapter_response or {}).get("rows_affected")
            if rows is not None and rows >= 0:
                counts[node.name] = rows
        if status in ("error", "fail"):
            problems.append(f"{node.name}: {node_result.message}")
    if dbt_result.exception is not None:
        problems.append(str(dbt_result.exception))
    if not dbt_result.success and not problems:
        problems.append("dbt build failed")
    return counts, "; ".join(problems) or None


def settle_day(settings: Settings, database_url: str, day: dt.date) -> tuple[dict[str, int], str | None]:
    """Builds and tests the day's staging and intermediate models (the long part), then its marts while
    holding the publish lock."""
    variables = dbt_vars(settings, day)
    manifest = parsed_project(database_url, variables)
    build = ["build", "--exclude-resource-type", "unit_test"]
    counts, error = _summarise(
        invoke_dbt(database_url, [*build, "--exclude", MARTS, "tag:source_contract"], variables, manifest=manifest)
    )
    if error:
        return counts, error
    with psycopg.connect(database_url, autocommit=True) as lock:
        lock.execute("SELECT pg_advisory_lock(hashtext(%s))", (PUBLISH_LOCK,))
        mart_counts, error = _summarise(invoke_dbt(database_url, [*build, "--select", MARTS], variables, manifest=manifest))
    return counts | mart_counts, error


ANALYTICS_SCHEMA = "analytics"


def run_days(
    settings: Settings, first: dt.date, last: dt.date | None = None, trigger: str = "manual", rebuild: bool = False
) -> list[RunResult]:
    """Settles first..last (and earlier unsettled days with data), stopping at the first failed day.
    rebuild: drop everything the pipeline built and settle again from the first day with data (after
    a change of the models' columns)."""
    last = last or first
    if first > last:
        raise ValueError(f"the range {first} .. {last} is empty: the first day is after the last")
    database = db.resolve_database(settings)
    with psycopg.connect(database.url, autocommit=True) as conn:
        if not _try_lock(conn, PIPELINE_LOCK):
            raise PipelineBusy("another settlement run is in progress on this database")
        conn.execute(
            """UPDATE pipeline_runs SET status = 'FAILED', finished_at = clock_timestamp(),
                      error = 'interrupted: the run ended without finishing'
               WHERE status = 'RUNNING'"""
        )
        if rebuild:
            log.warning("rebuilding: dropping schema %s and settling again from the first day with data", ANALYTICS_SCHEMA)
            conn.execute(f"DROP SCHEMA IF EXISTS {ANALYTICS_SCHEMA} CASCADE")
        days = plan_days(conn, first, last, settings.timezone, settings.late_event_horizon_days)
        migrations.ensure_day_partitions(conn, days[0], days[-1] + dt.timedelta(days=1), settings.timezone)
        results = []
        for day in days:
            run_id = _start_run(conn, day, trigger)
            started = time.perf_counter()
            try:
                counts, error = settle_day(settings, database.url, day)
            except Exception as exc:  # recorded in pipeline_runs, then raised to the caller
                _finish_run(conn, RunResult(run_id, day, "FAILED", time.perf_counter() - started, error=repr(exc)))
                raise
            result = RunResult(
                run_id, day, "FAILED" if error else "SUCCEEDED", time.perf_counter() - started, counts, error,
                {} if error else quarantined_by_source(conn, day),
            )
            _finish_run(conn, result)
            results.append(result)
            log.info("settled %s: %s in %.2f s", day, result.status, result.seconds)
            if error:
                break
        return results
