"""The ad-slot rule has one home, the database's ad_slots_crossed and ad_slot_starts_at (migration 0062),
which record_playback and the engine's models call. Here: the functions are SPEC's rule (slot k plays at
k times the slot length; a PROGRESS's playing crosses it when position - watched < k * length <= position),
and the API's candidate ids (api.playback.service.crossed_slots) name exactly those slots."""

import datetime as dt
import uuid

import psycopg
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from api.playback.service import Event, crossed_slots
from tests.hypothesis_profiles import examples

PLAYS = st.tuples(
    st.integers(0, 200_000),  # position, seconds
    st.integers(0, 200_000),  # watched, seconds (may claim more than the position: the rule does not care)
    st.integers(1, 3_600),  # slot length, seconds
)


def spec_slots(position: int, watched: int, slot_seconds: int) -> list[int]:
    """SPEC, slot by slot: the slots k >= 1 with position - watched < k * length <= position."""
    return [k for k in range(1, position // slot_seconds + 2) if position - watched < k * slot_seconds <= position]


@pytest.fixture(scope="module")
def database(database_url):
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def database_slots(connection, plays: list[tuple[int, int, int]]) -> list[list[int]]:
    """ad_slots_crossed of each play, as the list of its slots."""
    rows = connection.execute(
        """SELECT isempty(r), lower(r), upper(r)
           FROM unnest(%s::bigint[], %s::bigint[], %s::integer[]) WITH ORDINALITY AS p(pos, w, l, o)
           CROSS JOIN LATERAL ad_slots_crossed(p.pos, p.w, p.l) AS r ORDER BY p.o""",
        [list(column) for column in zip(*plays, strict=True)],
    ).fetchall()
    return [[] if empty else list(range(lower, upper)) for empty, lower, upper in rows]


@settings(max_examples=examples(40, 400))
@given(st.lists(PLAYS, min_size=1, max_size=40))
@example([(300, 300, 300), (299, 299, 300), (600, 1, 300), (601, 1, 300), (0, 0, 300), (900, 0, 300), (120, 500, 60)])
def test_the_slots_crossed_are_specs_in_the_database_and_in_the_apis_candidates(database, plays):
    expected = [spec_slots(*play) for play in plays]
    assert database_slots(database, plays) == expected
    starts = database.execute(
        """SELECT ad_slot_starts_at(k, l) FROM unnest(%s::integer[]) WITH ORDINALITY AS p(l, o), generate_series(1, 3) AS k
           ORDER BY o, k""",
        [[length for _, _, length in plays]],
    ).fetchall()
    assert [start for (start,) in starts] == [k * length for _, _, length in plays for k in (1, 2, 3)]
    at = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    for (position, watched, length), slots in zip(plays, expected, strict=True):
        progress = Event(1, "PROGRESS", uuid.uuid4(), at, position, watched)
        assert list(crossed_slots(progress, length)) == slots
