"""`settlement scheduler`: the long-running process (ads at 00:00, yesterday's settlement at 00:30)."""

import contextlib
import logging
import signal

import click
from apscheduler.events import EVENT_SCHEDULER_STARTED

from settlement import db, scheduler
from settlement.commands import EXIT_BUSY, EXIT_FAILED, EXIT_OK, open_database
from settlement.config import get_settings

log = logging.getLogger("settlement.scheduler")

EXIT_CODES = {"SUCCEEDED": EXIT_OK, "FAILED": EXIT_FAILED, "BUSY": EXIT_BUSY, "SKIPPED": EXIT_BUSY}
JOB_NAMES = [job.replace("_", "-") for job in scheduler.JOBS]


@click.command(
    "scheduler",
    short_help="Run the daily jobs: ads at 00:00, settle yesterday at 00:30.",
    help="""Run the daily jobs on the platform's clock: the ad refresh at 00:00 and settling yesterday
    at 00:30 (platform time), each with its lock and retries. SIGTERM stops it after a job in progress.""",
)
@click.option(
    "--run",
    "job",
    type=click.Choice(JOB_NAMES),
    help="Run this job once now (with its lock and retries) and exit: 0 done, 1 failed, 75 busy.",
)
def command(job: str | None) -> int:
    settings = get_settings()
    database_url = open_database(settings).url
    if job:
        outcome = scheduler.JOBS[job.replace("-", "_")](settings)
        return EXIT_CODES[outcome.status]

    process = scheduler.build_scheduler(settings)

    def stop(*_: object) -> None:
        # A settlement in progress finishes the day it is on and begins no other; this waits for it
        # (the main thread must not end under it: dbt's thread pool refuses work once the interpreter
        # shuts down). Compose's stop_grace_period covers the longest day.
        if scheduler.STOPPING.is_set():
            return
        scheduler.STOPPING.set()
        log.info("stopping: waiting for the job in progress, if any")
        if process.running:
            process.shutdown(wait=True)

    def on_started(_event: object) -> None:
        # Only now: a signal before the scheduler runs just ends the process, nothing is in progress.
        # `docker compose stop` sends SIGTERM.
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, stop)
        upcoming = scheduler.next_runs(settings, scheduler.utc_now())
        log.info(
            "scheduler started on %s (%s); next runs: %s",
            db.describe(database_url),
            settings.time_zone,
            ", ".join(f"{name} at {when.isoformat()}" for name, when in upcoming.items()),
        )

    process.add_listener(on_started, EVENT_SCHEDULER_STARTED)
    with contextlib.suppress(KeyboardInterrupt):
        process.start()
    log.info("scheduler stopped")
    return EXIT_OK
