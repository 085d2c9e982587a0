"""Names the code builds and reads back as strings have one home each (settlement/warehouse.py)."""

import datetime as dt

from settlement import warehouse


def test_a_day_table_is_named_and_parsed_by_one_rule():
    day = dt.date(2026, 3, 9)
    assert warehouse.day_table("watch_events", day) == "watch_events_20260309"
    assert warehouse.parse_day_table("watch_events_20260309") == ("watch_events", day)
    assert warehouse.parse_day_table(warehouse.day_table("ad_impressions", day)) == ("ad_impressions", day)
