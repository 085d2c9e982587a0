"""The long-running scheduler: the ad refresh at 00:00 and settling yesterday at 00:30, platform time.

The job functions take an injectable clock (and sleep), so they can be run and tested on their own.
Each job holds a PostgreSQL advisory lock while it works, so two schedulers (on two machines) never
run the same job at once; the settlement itself also takes the pipeline's own lock (pipeline.run_days).
A failing attempt is retried with exponential backoff; a busy pipeline or a job already running
elsewhere is logged and skipped, not retried.
"""

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from psycopg import sql

from settlement import ads, clock, db, pipeline, warehouse
from settlement.clock import day_of
from settlement.config import EngineSettings

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
Sleep = Callable[[float], None]

REFRESH_ADS = "refresh_ads"
SETTLE_YESTERDAY = "settle_yesterday"
JOB_LOCKS = {REFRESH_ADS: warehouse.Lock.REFRESH_ADS_JOB, SETTLE_YESTERDAY: warehouse.Lock.SETTLE_YESTERDAY_JOB}

# Set when the process is asked to stop (SIGTERM): a settlement in progress finishes the day it is
# publishing and settles no more, and nothing is retried.
STOPPING = threading.Event()


def utc_now() -> dt.datetime:
    return clock.now()


@dataclass
class JobOutcome:
    job: str
    day: dt.date
    status: str  # SUCCEEDED | FAILED | BUSY (the pipeline is running) | SKIPPED (job running elsewhere)
    attempts: int
    seconds: float
    row_counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None


class AttemptFailed(RuntimeError):
    """An attempt that ran but did not succeed, with the rows it wrote before failing."""

    def __init__(self, message: str, row_counts: dict[str, int]):
        super().__init__(message)
        self.row_counts = row_counts


@contextmanager
def job_lock(database_url: str, job: str) -> Iterator[bool]:
    """Yields whether this process got the job's lock; held (on its own session) until the block ends."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        key = warehouse.lock_key_sql(JOB_LOCKS[job])
        got: bool = db.one_row(conn.execute(sql.SQL("SELECT pg_try_advisory_lock({})").format(key)))[0]
        try:
            yield got
        finally:
            if got and not conn.closed:
                conn.execute(sql.SQL("SELECT pg_advisory_unlock({})").format(key))


def backoff_seconds(settings: EngineSettings, failed_attempt: int) -> float:
    factor: float = 2 ** (failed_attempt - 1)  # (int ** int is typed Any: a negative exponent makes a float)
    return settings.scheduler_retry_base_seconds * factor


def describe_rows(row_counts: dict[str, int]) -> str:
    return "rows: " + (", ".join(f"{name} {count}" for name, count in row_counts.items()) or "none")


def run_job(settings: EngineSettings, job: str, day: dt.date, work: Callable[[], dict[str, int]], sleep: Sleep) -> JobOutcome:
    """Runs work() under the job's lock, retrying failures with backoff; logs every attempt."""
    database_url = db.resolve_database(settings).url
    attempts = settings.scheduler_retry_attempts
    started = time.perf_counter()
    for attempt in range(1, attempts + 1):
        attempt_started = time.perf_counter()
        row_counts: dict[str, int] = {}
        try:
            with job_lock(database_url, job) as got_lock:
                if not got_lock:
                    log.warning("%s for %s: skipped, another scheduler is running this job", job, day)
                    return JobOutcome(job, day, "SKIPPED", attempt, time.perf_counter() - started)
                row_counts = work()
        except pipeline.PipelineBusy as exc:
            log.warning("%s for %s: skipped, %s; settle it later with `settlement run --date %s`", job, day, exc, day)
            return JobOutcome(job, day, "BUSY", attempt, time.perf_counter() - started, error=str(exc))
        except Exception as exc:  # every failure is retried, then reported
            row_counts = getattr(exc, "row_counts", row_counts)
            error = f"{type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - attempt_started
            if attempt == attempts or STOPPING.is_set():
                log.error(
                    "%s for %s: FAILED after %d attempts (last took %.2f s, %s): %s",
                    job,
                    day,
                    attempts,
                    seconds,
                    describe_rows(row_counts),
                    error,
                )
                return JobOutcome(job, day, "FAILED", attempt, time.perf_counter() - started, row_counts, error)
            delay = backoff_seconds(settings, attempt)
            log.warning(
                "%s for %s: attempt %d/%d failed in %.2f s (%s): %s; retrying in %.0f s",
                job,
                day,
                attempt,
                attempts,
                seconds,
                describe_rows(row_counts),
                error,
                delay,
            )
            sleep(delay)
        else:
            seconds = time.perf_counter() - attempt_started
            log.info(
                "%s for %s: attempt %d/%d succeeded in %.2f s (%s)",
                job,
                day,
                attempt,
                attempts,
                seconds,
                describe_rows(row_counts),
            )
            return JobOutcome(job, day, "SUCCEEDED", attempt, time.perf_counter() - started, row_counts)
    raise AssertionError("unreachable: the last attempt returns")


def refresh_ads_job(settings: EngineSettings, *, clock: Clock = utc_now, sleep: Sleep = time.sleep) -> JobOutcome:
    """Moves the ads to their status for today (platform time) and refills freed slots."""
    day = day_of(clock(), settings.zone)

    def refresh() -> dict[str, int]:
        with db.resolve_database(settings).connect(autocommit=True) as conn:
            return ads.refresh_lifecycle(conn, day, settings.ad_slot_seconds).counts()

    return run_job(settings, REFRESH_ADS, day, refresh, sleep)


def settle_yesterday_job(
    settings: EngineSettings,
    *,
    clock: Clock = utc_now,
    sleep: Sleep = time.sleep,
    run_days: Callable[..., list[pipeline.RunResult]] | None = None,
) -> JobOutcome:
    """Settles yesterday (platform time); pipeline.run_days records each day in pipeline_runs."""
    day = day_of(clock(), settings.zone) - dt.timedelta(days=1)
    run_days = run_days or pipeline.run_days

    def settle() -> dict[str, int]:
        results = run_days(settings, day, trigger="scheduler", should_stop=STOPPING.is_set)
        row_counts: dict[str, int] = {}
        for result in results:
            for model, rows in result.row_counts.items():
                row_counts[model] = row_counts.get(model, 0) + rows
        failed = [result for result in results if not result.succeeded]
        if failed or not results:
            reason = f"{failed[0].run_date}: {failed[0].error}" if failed else "no day was settled"
            raise AttemptFailed(f"settlement failed, {reason}", row_counts)
        return row_counts

    return run_job(settings, SETTLE_YESTERDAY, day, settle, sleep)


JOBS: dict[str, Callable[..., JobOutcome]] = {REFRESH_ADS: refresh_ads_job, SETTLE_YESTERDAY: settle_yesterday_job}


def job_triggers(settings: EngineSettings) -> dict[str, CronTrigger]:
    def daily_at(at: dt.time) -> CronTrigger:
        return CronTrigger(hour=at.hour, minute=at.minute, second=at.second, timezone=settings.zone)

    return {REFRESH_ADS: daily_at(settings.scheduler_ads_refresh_at), SETTLE_YESTERDAY: daily_at(settings.scheduler_settle_at)}


class OnPlatformClock(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 has no types: BaseTrigger is Any
    """A trigger's times read on the platform's clock (settlement.clock), which APScheduler, reading the
    real one, would otherwise fire early or late by the clock's shift."""

    def __init__(self, trigger: BaseTrigger):
        self.trigger = trigger

    def get_next_fire_time(self, previous_fire_time: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
        shift = clock.shift()
        fire: dt.datetime | None = self.trigger.get_next_fire_time(previous_fire_time and previous_fire_time + shift, now + shift)
        return fire and fire - shift


def next_runs(settings: EngineSettings, now: dt.datetime) -> dict[str, dt.datetime]:
    return {job: trigger.get_next_fire_time(None, now) for job, trigger in job_triggers(settings).items()}


def build_scheduler(settings: EngineSettings, now: dt.datetime | None = None) -> BlockingScheduler:
    """The scheduler; the ad refresh also runs once at start (cheap and idempotent), so the ads are right
    for today even when the scheduler was down at midnight. A settlement missed while it was down is
    made up by the next night's run: the pipeline settles earlier unsettled days first."""
    scheduler = BlockingScheduler(timezone=settings.zone)
    first_runs = {REFRESH_ADS: (now or utc_now()) - clock.shift()}  # (APScheduler's times are real)
    for job, trigger in job_triggers(settings).items():
        scheduler.add_job(
            JOBS[job],
            OnPlatformClock(trigger),
            args=[settings],
            id=job,
            name=job,
            max_instances=1,  # in this process; the job lock covers other processes
            coalesce=True,  # a run delayed past the next one (the process stalled) runs once, not twice
            misfire_grace_time=6 * 3600,
            **({"next_run_time": first_runs[job]} if job in first_runs else {}),
        )
    return scheduler
