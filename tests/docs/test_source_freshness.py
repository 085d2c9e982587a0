"""A plain `dbt source freshness` (the project's default selector, no --select) checks the event tables:
it passes while events arrive, warns after a day without one and errors after three."""

import datetime as dt
import uuid

import pytest

from settlement import clock, pipeline
from settlement.config import EngineSettings

EVENT_TABLES = ("watch_events", "ad_impressions")


def source_freshness(database_url: str) -> dict[str, str]:
    """{source table: pass | warn | error} for the tables dbt checked."""
    settings = EngineSettings(_env_file=None, database_url=database_url)
    result = pipeline.invoke_dbt(database_url, ["source", "freshness"], pipeline.dbt_vars(settings, None))
    assert result.exception is None, result.exception
    return {
        node_result.node.name: str(node_result.status)
        for node_result in result.result.results
        if node_result.node.resource_type == "source"  # (the project's hooks run too, and do nothing)
    }


def record_events(conn, received_at: dt.datetime) -> None:
    """One watch event and one ad impression, stored at received_at (each happened a minute before)."""
    occurred_at = received_at - dt.timedelta(minutes=1)
    conn.execute(
        """INSERT INTO watch_events (event_id, kind, user_id, video_id, occurred_at, position_seconds,
                                     watched_seconds, received_at)
           VALUES (%s, 'START', 1, 1, %s, 0, 0, %s)""",
        (uuid.uuid4(), occurred_at, received_at),
    )
    conn.execute(
        """INSERT INTO ad_impressions (event_id, user_id, video_id, ad_id, slot, occurred_at, received_at)
           VALUES (%s, 1, 1, 1, 1, %s, %s)""",
        (uuid.uuid4(), occurred_at, received_at),
    )


def age_events(conn, age: dt.timedelta) -> None:
    """Every stored event as if the last one had arrived `age` ago."""
    for table in EVENT_TABLES:
        conn.execute(
            f"""UPDATE {table} SET received_at = received_at - shift, occurred_at = occurred_at - shift
                FROM (SELECT max(received_at) - (settlement_now() - %s::interval) AS shift FROM {table}) AS stale""",
            (age,),
        )


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (dt.timedelta(minutes=5), "pass"),
        (dt.timedelta(hours=23), "pass"),
        (dt.timedelta(days=2), "warn"),  # a whole platform day without one event arriving
        (dt.timedelta(days=4), "error"),  # past the API's 72 h: what clients held back is lost
    ],
    ids=["fresh", "a-day-old", "two-days-old", "four-days-old"],
)
def test_event_tables_are_fresh_warn_when_stale_and_error_when_older_still(conn, database_url, age, expected):
    record_events(conn, clock.now())
    age_events(conn, age)
    assert source_freshness(database_url) == dict.fromkeys(EVENT_TABLES, expected)


def test_no_event_in_the_last_week_is_an_error(conn, database_url):
    """The check reads the last week's partitions only; nothing there is as stale as it gets."""
    assert source_freshness(database_url) == dict.fromkeys(EVENT_TABLES, "error")
    record_events(conn, clock.now() - dt.timedelta(days=30))
    assert source_freshness(database_url) == dict.fromkeys(EVENT_TABLES, "error")
