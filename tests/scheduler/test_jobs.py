import datetime as dt
import logging
import threading

import psycopg
import pytest

from settlement import clock, pipeline, scheduler, warehouse
from settlement.pipeline import RunResult

UTC = dt.UTC
# 00:30 on 2026-03-02 in Seoul
SETTLE_TIME = dt.datetime(2026, 3, 1, 15, 30, tzinfo=UTC)


def at(moment: dt.datetime):
    return lambda: moment


class FakeSleep:
    def __init__(self):
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class FakeRunDays:
    """Stands in for pipeline.run_days: plays back outcomes (a status string or an exception) in order."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = []

    def __call__(self, settings, first, last=None, trigger="manual", should_stop=None):
        self.calls.append((first, last, trigger))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        counts = {"fct_video_daily": 7, "fct_video_ad_daily": 3}
        error = None if outcome == "SUCCEEDED" else "model fct_video_daily failed"
        return [RunResult(1, first, outcome, 0.1, counts, error)]


@pytest.fixture
def settings(test_settings):
    return test_settings.model_copy(update={"scheduler_retry_attempts": 3, "scheduler_retry_base_seconds": 5.0})


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger="settlement.scheduler")
    return caplog


@pytest.mark.parametrize(
    ("now", "yesterday"),
    [
        (SETTLE_TIME, dt.date(2026, 3, 1)),
        (dt.datetime(2026, 3, 1, 14, 59, 59, tzinfo=UTC), dt.date(2026, 2, 28)),  # 23:59:59 in Seoul, 1 March
        (dt.datetime(2026, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=9))), dt.date(2025, 12, 31)),
    ],
)
def test_settle_job_settles_yesterday_in_the_platform_time_zone(settings, now, yesterday):
    run_days = FakeRunDays("SUCCEEDED")
    outcome = scheduler.settle_yesterday_job(settings, clock=at(now), sleep=FakeSleep(), run_days=run_days)
    assert run_days.calls == [(yesterday, None, "scheduler")]
    assert (outcome.status, outcome.day, outcome.attempts) == ("SUCCEEDED", yesterday, 1)
    assert outcome.row_counts == {"fct_video_daily": 7, "fct_video_ad_daily": 3}


def test_settle_job_day_follows_the_configured_time_zone(settings):
    utc_settings = settings.model_copy(update={"time_zone": "UTC"})
    run_days = FakeRunDays("SUCCEEDED")
    scheduler.settle_yesterday_job(utc_settings, clock=at(SETTLE_TIME), sleep=FakeSleep(), run_days=run_days)
    assert run_days.calls[0][0] == dt.date(2026, 2, 28)


def test_a_failing_run_is_retried_with_exponential_backoff_and_each_attempt_logged(settings, logs):
    sleep = FakeSleep()
    run_days = FakeRunDays(psycopg.OperationalError("server closed the connection"), "FAILED", "SUCCEEDED")
    outcome = scheduler.settle_yesterday_job(settings, clock=at(SETTLE_TIME), sleep=sleep, run_days=run_days)
    assert (outcome.status, outcome.attempts) == ("SUCCEEDED", 3)
    assert sleep.delays == [5.0, 10.0]
    messages = [record.getMessage() for record in logs.records if record.name == "settlement.scheduler"]
    assert "attempt 1/3 failed" in messages[0] and "server closed the connection" in messages[0]
    assert "attempt 2/3 failed" in messages[1] and "fct_video_daily 7" in messages[1]  # rows written before failing
    assert "attempt 3/3 succeeded" in messages[2] and "fct_video_ad_daily 3" in messages[2]
    assert all(" s (rows: " in message for message in messages)  # each with its duration and row counts


def test_a_run_failing_every_attempt_is_reported(settings, logs):
    sleep = FakeSleep()
    run_days = FakeRunDays(*["FAILED"] * 3)
    outcome = scheduler.settle_yesterday_job(settings, clock=at(SETTLE_TIME), sleep=sleep, run_days=run_days)
    assert (outcome.status, outcome.attempts, len(run_days.calls)) == ("FAILED", 3, 3)
    assert sleep.delays == [5.0, 10.0]  # no wait after the last attempt
    assert "fct_video_daily failed" in outcome.error
    errors = [record for record in logs.records if record.levelno == logging.ERROR]
    assert len(errors) == 1 and "FAILED after 3 attempts" in errors[0].getMessage()


def test_a_busy_pipeline_is_logged_and_skipped_not_retried(settings, logs):
    sleep = FakeSleep()
    run_days = FakeRunDays(pipeline.PipelineBusy("another settlement run is in progress"))
    outcome = scheduler.settle_yesterday_job(settings, clock=at(SETTLE_TIME), sleep=sleep, run_days=run_days)
    assert (outcome.status, len(run_days.calls), sleep.delays) == ("BUSY", 1, [])
    assert "settlement run --date 2026-03-01" in logs.text


def test_the_real_pipeline_lease_held_elsewhere_makes_the_job_busy(settings, database_url, conn):
    with psycopg.connect(database_url, autocommit=True) as other:  # a live run of another process
        warehouse.begin_run(other, dt.date(2026, 1, 1), "manual", 600, settings.time_zone)
        outcome = scheduler.settle_yesterday_job(settings, clock=at(SETTLE_TIME), sleep=FakeSleep())
    assert outcome.status == "BUSY" and "another settlement run holds the pipeline" in outcome.error


def hold_job_lock(database_url: str, job: str) -> psycopg.Connection:
    conn = psycopg.connect(database_url, autocommit=True)
    key = str(scheduler.JOB_LOCKS[job])
    assert conn.execute("SELECT pg_try_advisory_lock(settlement_lock_key(%s))", (key,)).fetchone()[0]
    return conn


@pytest.mark.parametrize("job", [scheduler.SETTLE_YESTERDAY, scheduler.REFRESH_ADS])
def test_a_job_held_by_another_scheduler_is_skipped(settings, database_url, conn, job):
    run_days = FakeRunDays("SUCCEEDED")
    with hold_job_lock(database_url, job):
        if job == scheduler.SETTLE_YESTERDAY:
            outcome = scheduler.settle_yesterday_job(settings, clock=at(SETTLE_TIME), run_days=run_days)
        else:
            outcome = scheduler.refresh_ads_job(settings, clock=at(SETTLE_TIME))
    assert outcome.status == "SKIPPED"
    assert run_days.calls == []


def test_two_schedulers_never_run_the_same_job_at_once(settings):
    entered, release = threading.Event(), threading.Event()

    def slow_run_days(settings, first, last=None, trigger="manual", should_stop=None):
        entered.set()
        assert release.wait(timeout=30)
        return [RunResult(1, first, "SUCCEEDED", 0.1, {"fct_video_daily": 1})]

    outcomes = {}
    first = threading.Thread(
        target=lambda: outcomes.setdefault(
            "first", scheduler.settle_yesterday_job(settings, clock=at(SETTLE_TIME), run_days=slow_run_days)
        )
    )
    first.start()
    try:
        assert entered.wait(timeout=30)
        second_calls = FakeRunDays("SUCCEEDED")
        second = scheduler.settle_yesterday_job(settings, clock=at(SETTLE_TIME), run_days=second_calls)
        assert (second.status, second_calls.calls) == ("SKIPPED", [])
    finally:
        release.set()
        first.join(timeout=30)
    assert outcomes["first"].status == "SUCCEEDED"
    # the lock is released with the job: the next run gets it
    assert (
        scheduler.settle_yesterday_job(settings, clock=at(SETTLE_TIME), run_days=FakeRunDays("SUCCEEDED")).status == "SUCCEEDED"
    )


def test_refresh_job_moves_ads_for_today_in_the_platform_time_zone(settings, conn):
    ad = conn.execute(
        """INSERT INTO ads (title, ad_url, duration_seconds, contract_start, contract_end)
           VALUES ('ad', 'u', 15, '2026-03-10', '2026-03-20') RETURNING id"""
    ).fetchone()[0]

    def status() -> str:
        return conn.execute("SELECT status FROM ads WHERE id = %s", (ad,)).fetchone()[0]

    midnight_in_seoul = dt.datetime(2026, 3, 9, 15, 0, tzinfo=UTC)

    before = scheduler.refresh_ads_job(settings, clock=at(midnight_in_seoul - dt.timedelta(seconds=1)))
    assert (before.day, status()) == (dt.date(2026, 3, 9), "SCHEDULED")
    outcome = scheduler.refresh_ads_job(settings, clock=at(midnight_in_seoul))
    assert (outcome.status, outcome.day, status()) == ("SUCCEEDED", dt.date(2026, 3, 10), "ACTIVE")
    assert outcome.row_counts["activated"] == 1


def test_refresh_job_retries_when_the_database_fails(settings, conn, monkeypatch):
    calls = []
    real_refresh = scheduler.ads.refresh_lifecycle

    def flaky_refresh(connection, day, slot_seconds):
        calls.append(day)
        if len(calls) == 1:
            raise psycopg.OperationalError("connection lost")
        return real_refresh(connection, day, slot_seconds)

    monkeypatch.setattr(scheduler.ads, "refresh_lifecycle", flaky_refresh)
    sleep = FakeSleep()
    outcome = scheduler.refresh_ads_job(settings, clock=at(SETTLE_TIME), sleep=sleep)
    assert (outcome.status, outcome.attempts, sleep.delays) == ("SUCCEEDED", 2, [5.0])


def test_the_scheduler_runs_each_job_daily_at_its_platform_time(settings):
    seoul = settings.zone
    now = dt.datetime(2026, 3, 1, 23, 0, tzinfo=seoul)
    assert scheduler.next_runs(settings, now) == {
        scheduler.REFRESH_ADS: dt.datetime(2026, 3, 2, 0, 0, tzinfo=seoul),
        scheduler.SETTLE_YESTERDAY: dt.datetime(2026, 3, 2, 0, 30, tzinfo=seoul),
    }
    later = settings.model_copy(update={"scheduler_settle_at": dt.time(2, 15)})
    assert scheduler.next_runs(later, now)[scheduler.SETTLE_YESTERDAY] == dt.datetime(2026, 3, 2, 2, 15, tzinfo=seoul)

    built = scheduler.build_scheduler(settings, now=now)
    jobs = {job.id: job for job in built.get_jobs()}
    assert set(jobs) == {scheduler.REFRESH_ADS, scheduler.SETTLE_YESTERDAY}
    assert jobs[scheduler.REFRESH_ADS].next_run_time + clock.shift() == now  # once at start (platform clock), then daily
    assert not hasattr(jobs[scheduler.SETTLE_YESTERDAY], "next_run_time")  # only on its trigger
    assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
    assert jobs[scheduler.SETTLE_YESTERDAY].func is scheduler.settle_yesterday_job


def test_backoff_doubles(settings):
    assert [scheduler.backoff_seconds(settings, attempt) for attempt in (1, 2, 3, 4)] == [5.0, 10.0, 20.0, 40.0]


@pytest.mark.calendar
def test_the_jobs_fire_at_their_platform_time_on_the_platform_clock(settings):
    """APScheduler reads the real clock; the jobs fire when the platform's clock (settlement.clock) reads
    00:00 and 00:30, and the settle job, run then, settles the platform's yesterday."""
    now = clock.now().astimezone(settings.zone)
    real_now = dt.datetime.now(dt.UTC).astimezone(settings.zone)
    built = {job.id: job for job in scheduler.build_scheduler(settings).get_jobs()}
    for job, at_time in (
        (scheduler.REFRESH_ADS, settings.scheduler_ads_refresh_at),
        (scheduler.SETTLE_YESTERDAY, settings.scheduler_settle_at),
    ):
        next_at = dt.datetime.combine(now.date(), at_time, tzinfo=settings.zone)
        if next_at <= now:
            next_at = dt.datetime.combine(now.date() + dt.timedelta(days=1), at_time, tzinfo=settings.zone)
        fires = built[job].trigger.get_next_fire_time(None, real_now)
        assert abs((fires + clock.shift()) - next_at) < dt.timedelta(seconds=5), (job, fires, next_at)
    run_days = FakeRunDays("SUCCEEDED")
    outcome = scheduler.settle_yesterday_job(settings, sleep=FakeSleep(), run_days=run_days)
    assert run_days.calls[0][0] == clock.yesterday(settings.zone) == outcome.day
