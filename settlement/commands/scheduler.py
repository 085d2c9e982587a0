"""`settlement scheduler`: the long-running process (ads at 00:00, yesterday's settlement at 00:30)."""

import argparse
import logging
import signal
import sys

from apscheduler.events import EVENT_SCHEDULER_STARTED

from settlement import db, scheduler
from settlement.config import get_settings

log = logging.getLogger("settlement.scheduler")

EXIT_CODES = {"SUCCEEDED": 0, "FAILED": 1, "BUSY": 75, "SKIPPED": 75}  # 75: EX_TEMPFAIL, try again later


def cmd_scheduler(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        database_url = scheduler.check_database(settings)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.run:
        outcome = scheduler.JOBS[args.run.replace("-", "_")](settings)
        return EXIT_CODES[outcome.status]

    process = scheduler.build_scheduler(settings)

    def stop(*_) -> None:
        # A settlement in progress finishes the day it is on and begins no other; this waits for it
        # (the main thread must not end under it: dbt's thread pool refuses work once the interpreter
        # shuts down). Compose's stop_grace_period covers the longest day.
        if scheduler.STOPPING.is_set():
            return
        scheduler.STOPPING.set()
        log.info("stopping: waiting for the job in progress, if any")
        if process.running:
            process.shutdown(wait=True)

    def on_started(_event) -> None:
        # Only now: a signal before the scheduler runs just ends the process, nothing is in progress.
        # `docker compose stop` sends SIGTERM.
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, stop)
        upcoming = scheduler.next_runs(settings, scheduler.utc_now())
        log.info(
            "scheduler started on %s (%s); next runs: %s",
            db.describe(database_url),
            settings.timezone,
            ", ".join(f"{job} at {when.isoformat()}" for job, when in upcoming.items()),
        )

    process.add_listener(on_started, EVENT_SCHEDULER_STARTED)
    try:
        process.start()
    except KeyboardInterrupt:
        pass
    log.info("scheduler stopped")
    return 0


def register(commands) -> None:
    parser = commands.add_parser(
        "scheduler", help="run the daily jobs: ad refresh at 00:00, settle yesterday at 00:30 (platform time)"
    )
    parser.add_argument(
        "--run",
        choices=[job.replace("_", "-") for job in scheduler.JOBS],
        help="run this job once now (with its lock and retries) and exit, instead of scheduling",
    )
    parser.set_defaults(func=cmd_scheduler)
