from tests.calendar.hard_days import run_the_calendar_tests_on


def test_the_calendar_tests_pass_on_after_leap_day(tmp_path):
    run_the_calendar_tests_on("after-leap-day", tmp_path)
