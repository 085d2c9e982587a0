from tests.calendar.hard_days import run_the_calendar_tests_on


def test_the_calendar_tests_pass_on_second_of_month(tmp_path):
    run_the_calendar_tests_on("second-of-month", tmp_path)
