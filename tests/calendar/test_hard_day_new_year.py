from tests.calendar.hard_days import run_the_calendar_tests_on


def test_the_calendar_tests_pass_on_new_year(tmp_path):
    run_the_calendar_tests_on("new-year", tmp_path)
