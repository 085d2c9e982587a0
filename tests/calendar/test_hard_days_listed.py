import os
import subprocess
import sys
from pathlib import Path

import pytest

from settlement.config import PROJECT_ROOT
from tests.calendar.hard_days import HARD_DAYS, calendar_test_files
from tests.conftest import CALENDAR_FILES


def test_every_hard_day_has_its_test_file():
    """A hard day added to HARD_DAYS without its file would never run."""
    here = Path(__file__).parent
    for day in HARD_DAYS:
        test_file = here / f"test_hard_day_{day.replace('-', '_')}.py"
        assert test_file.exists() and f'run_the_calendar_tests_on("{day}"' in test_file.read_text(), day
    assert len(list(here.glob("test_hard_day_*.py"))) == len(HARD_DAYS)


def test_a_hard_day_runs_every_calendar_test_of_the_suite(request):
    """Each hard day collects only calendar_test_files(): a calendar test in any other file (marked some
    other way than with `pytest.mark.calendar` written out) would silently never run on a hard day. The
    session's own collection when it is the whole suite (`make test`), else one of the whole suite."""
    if request.config.args_source == pytest.Config.ArgsSource.TESTPATHS:
        marked = request.config.stash[CALENDAR_FILES]
    else:
        marked = collected_calendar_files()
    assert marked
    listed = set(calendar_test_files())
    assert marked <= listed, marked - listed


def collected_calendar_files() -> set[Path]:
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "calendar", "-p", "no:cacheprovider", "tests"],
        cwd=PROJECT_ROOT, env={**os.environ, "PYTEST_ADDOPTS": ""}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stdout[-5000:] + collected.stderr[-5000:]
    return {PROJECT_ROOT / line.split("::")[0] for line in collected.stdout.splitlines() if "::" in line}
