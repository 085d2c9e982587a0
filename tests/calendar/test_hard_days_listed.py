from pathlib import Path

from tests.calendar.hard_days import HARD_DAYS


def test_every_hard_day_has_its_test_file():
    """A hard day added to HARD_DAYS without its file would never run."""
    here = Path(__file__).parent
    for day in HARD_DAYS:
        test_file = here / f"test_hard_day_{day.replace('-', '_')}.py"
        assert test_file.exists() and f'run_the_calendar_tests_on("{day}"' in test_file.read_text(), day
    assert len(list(here.glob("test_hard_day_*.py"))) == len(HARD_DAYS)
