"""The date-sensitive tests (marker calendar: studio pages, period reads, settleable days, closing, ISO
weeks, the scheduler's daily jobs) again, each hard day in a pytest of its own whose clock starts there
(SETTLEMENT_TEST_NOW, tests/conftest.py): every process and database session of that run reads it, and
it keeps ticking, so at 23:59:50 midnight passes while the tests run.

Each hard day is a test file of its own (test_hard_day_*.py), so that `make test`'s two workers, which
take a file at a time, share them: in one file they were one worker's 5-minute tail."""

import os
import subprocess
import sys
from pathlib import Path

from settlement import clock
from settlement.config import PROJECT_ROOT

HARD_DAYS = {
    # a Monday and the 1st of a month: yesterday ends an ISO week and a month
    "monday-the-first": "2027-02-01T00:30:00+09:00",
    "second-of-month": "2026-12-02T00:30:00+09:00",  # yesterday is the 1st, the day before it in another month
    "new-year": "2027-01-01T00:30:00+09:00",  # yesterday ends the year; ISO week 53 of 2026 goes on
    "after-leap-day": "2028-03-01T00:30:00+09:00",  # yesterday is February 29
    "midnight": "2026-12-31T23:59:50+09:00",  # midnight, a new month and a new year pass during the run
}


def calendar_test_files() -> list[Path]:
    """The test files that hold calendar tests: a hard day's run collects only these (collecting the whole
    suite costs seconds a run). tests/calendar/test_hard_days_listed.py checks that none is missed."""
    tests = PROJECT_ROOT / "tests"
    return sorted(path for path in tests.rglob("test_*.py") if "mark.calendar" in path.read_text())


def run_the_calendar_tests_on(day: str, tmp_path) -> None:
    now = HARD_DAYS[day]
    env = {key: value for key, value in os.environ.items() if key != clock.SHIFT_VARIABLE}
    env |= {"SETTLEMENT_TEST_NOW": now, "PYTEST_ADDOPTS": ""}
    outcome = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "calendar", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "run"),
         "-o", "addopts=-ra", *map(str, calendar_test_files())],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    summary = outcome.stdout.strip().splitlines()[-1:] or ["(no output)"]
    assert outcome.returncode == 0, f"on {now}: {summary[0]}\n{outcome.stdout[-20000:]}\n{outcome.stderr[-5000:]}"
    assert " passed" in summary[0] and "failed" not in summary[0], summary
