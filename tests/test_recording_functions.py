"""The set-based recording functions (migration 0040) are their per-row twins called once per row, in
order: the same answers and the same rows (events, keys, copies kept as duplicates), on rows
hypothesis makes up (keys repeated inside a batch, keys recorded before, one id of two users)."""

import datetime as dt
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

RECEIVED_AT = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)
DAY = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)
IDS = [uuid.UUID(int=n) for n in range(1, 6)]

watch_rows = st.lists(
    st.tuples(
        st.sampled_from(IDS),
        st.sampled_from(["START", "PROGRESS", "PAUSE", "STOP"]),
        st.sampled_from([1, 2]),
        st.integers(1, 3),
        st.integers(-3600, 3600).map(lambda s: DAY + dt.timedelta(seconds=s)),
        st.integers(0, 2000),
        st.integers(0, 2000),
    ),
    max_size=30,
)
impression_rows = st.lists(
    st.tuples(
        st.sampled_from(IDS),
        st.sampled_from([1, 2]),
        st.integers(1, 3),
        st.integers(1, 4),
        st.integers(1, 5),
        st.integers(-3600, 3600).map(lambda s: DAY + dt.timedelta(seconds=s)),
    ),
    max_size=30,
)


def contents(conn) -> dict:
    return {
        table: sorted(map(repr, conn.execute(f"SELECT * FROM {table}").fetchall()))
        for table in ("watch_events", "watch_event_ids", "ad_impressions", "ad_impression_ids")
    } | {
        "duplicate_events": conn.execute(
            "SELECT source, event_id, occurred_at, received_at, raw_row FROM duplicate_events ORDER BY id"
        ).fetchall()
    }


def columns(rows: list[tuple], width: int) -> list[list]:
    return [[row[i] for row in rows] for i in range(width)]


def assert_batch_is_row_by_row(
    conn, per_row: str, batch_function: str, width: int, before: list[tuple], batch: list[tuple]
) -> None:
    """The batch function, called once with the batch after `before` was recorded row by row, answers and
    records what the per-row function does called once per row; each side from the empty tables (the conn
    fixture's), rolled back after. width: the columns of a row."""

    def one_by_one(rows):
        return [conn.execute(per_row, (*row, RECEIVED_AT)).fetchone()[0] for row in rows]

    with conn.transaction(force_rollback=True):
        one_by_one(before)
        expected = one_by_one(batch)
        expected_rows = contents(conn)
    with conn.transaction(force_rollback=True):
        one_by_one(before)
        answer = conn.execute(batch_function, (*columns(batch, width), RECEIVED_AT)).fetchone()[0]
        assert answer == expected
        assert contents(conn) == expected_rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=watch_rows, batch=watch_rows)
def test_record_watch_events_is_record_watch_event_row_by_row(conn, before, batch):
    assert_batch_is_row_by_row(
        conn,
        "SELECT record_watch_event(%s, %s, %s, %s, %s, %s, %s, %s)",
        "SELECT record_watch_events(%s::uuid[], %s::text[], %s::bigint[], %s::bigint[], %s::timestamptz[], %s::int[], %s::int[], %s)",
        7,
        before,
        batch,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=impression_rows, batch=impression_rows)
def test_record_ad_impressions_is_record_ad_impression_row_by_row(conn, before, batch):
    assert_batch_is_row_by_row(
        conn,
        "SELECT record_ad_impression(%s, %s, %s, %s, %s, %s, %s)",
        "SELECT record_ad_impressions(%s::uuid[], %s::bigint[], %s::bigint[], %s::bigint[], %s::int[], %s::timestamptz[], %s)",
        6,
        before,
        batch,
    )


def test_an_empty_batch_records_nothing(conn):
    empty = "SELECT record_watch_events('{}', '{}', '{}', '{}', '{}', '{}', '{}'), record_ad_impressions('{}', '{}', '{}', '{}', '{}', '{}')"
    assert conn.execute(empty).fetchone() == ([], [])
    assert contents(conn)["watch_events"] == []
