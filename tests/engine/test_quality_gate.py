"""The quality gate (SPEC.md, "What does not count"): one case per rule, each an event that breaks it
and is quarantined with its reason and raw row, counts for nothing else, and ingested = counted +
quarantined per day. Expected results come from tests/engine/scenario.py's reference as well."""

import datetime as dt
import uuid

import psycopg
import pytest

from settlement import pipeline
from settlement.config import EngineSettings
from tests.conftest import empty_database
from tests.engine.scenario import Platform, at, reference_intake, reference_settlement

D = dt.date(2026, 11, 23)
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def gate_conn(database_url):
    with psycopg.connect(database_url, autocommit=True) as connection:
        empty_database(connection)
        yield connection


@pytest.fixture(scope="module")
def gated(gate_conn, database_url):
    """A platform with one case per rule, settled for D-1 and D. Returns (platform, named ids)."""
    p = Platform(gate_conn)
    seller = p.user("seller", "SELLER")
    viewers = {
        name: p.user(name)
        for name in (
            "honest",
            "copier",
            "other",
            "early",
            "future",
            "negative",
            "too_long",
            "elapsed",
            "no_start",
            "window",
            "seeker",
            "late_slot",
            "ads",
            "replayer",
            "resumer",
        )
    }
    good = p.video(seller, 900)  # 2 ad slots
    born_on_d = p.video(seller, 900, created_at=at(D, 12))
    ad = p.ad(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    ended = p.ad(dt.date(2026, 11, 1), D)  # stops earning from D on
    named = {"good": good, "born_on_d": born_on_d}

    def event(name, kind, video, occurred_at, watched=0, position=0, **kwargs):
        """Sends an event of the viewer named before the colon; named[name] is its key and day."""
        user_id = viewers[name.split(":")[0]]
        event_id = p.event(kind, user_id, video, occurred_at, watched, position, **kwargs)
        named[name] = (event_id, user_id, occurred_at.astimezone(at(D, 0).tzinfo).date())

    # An honest session, for reference: a view, 360 s watched, slot 1 crossed by playing at 10:06.
    event("honest:start", "START", good, at(D, 10))
    event("honest:progress", "PROGRESS", good, at(D, 10, 6), 360, 360)
    p.impression(viewers["honest"], good, ad, 1, at(D, 10, 6))

    # duplicate_event: the copier's event of D-1 sent again claiming D; the other user's event with the
    # same id counts (ids are unique per user, not across users).
    copied = uuid.uuid4()
    event("copier:original", "START", good, at(D - DAY, 9), event_id=copied)
    event("copier:copy", "START", good, at(D, 9), event_id=copied)
    event("other:same_id", "START", good, at(D, 9), event_id=copied)
    # unknown_video; video_not_live (before it went live at 12:00; the same user's start after it counts)
    event("early:unknown", "START", 999_999, at(D, 11))
    event("early:before", "START", born_on_d, at(D, 11))
    event("early:after", "START", born_on_d, at(D, 13))
    # future_timestamp: claims 23:00, arrived at 21:00
    event("future:start", "START", good, at(D, 23), received_at=at(D, 21))
    # implausible_watch, each sub-rule
    event("negative:start", "START", good, at(D, 8))
    event("negative:progress", "PROGRESS", good, at(D, 8, 1), -5)
    event("too_long:start", "START", good, at(D, 8))
    event("too_long:progress", "PROGRESS", good, at(D, 10), 901, 900)  # 2 h passed, but the video lasts 900 s
    event("elapsed:start", "START", good, at(D, 8))
    event("elapsed:progress", "PROGRESS", good, at(D, 8, 1), 71)  # 60 s + 10 s of slack allowed
    # 100 s, 60 s after the turned-down event: judged against the last *counted* one (8:00), it counts
    event("elapsed:after", "PROGRESS", good, at(D, 8, 2), 100)
    event("no_start:progress", "PROGRESS", good, at(D, 14), 11)  # first in the window, more than the slack
    event("no_start:small", "PROGRESS", good, at(D, 14, 1), 10)  # no more than the slack: counts
    # A turned-down event refreshes nothing: window's START on D is a view (the rejected event of D-1
    # is 22 h before it, the counted one 49 h).
    event("window:first", "START", good, at(D - 2 * DAY, 9))
    event("window:rejected", "PROGRESS", good, at(D - DAY, 12), -1)
    event("window:start", "START", good, at(D, 10))
    # Ad impressions: a seek across slot 1 records nothing that counts; an impression 11 s away from the
    # crossing is not "at its time"; unknown ad, ad not active, unknown slot; a replay of slot 1.
    event("seeker:start", "START", good, at(D, 15))
    event("seeker:seek", "PROGRESS", good, at(D, 15, 0, 5), 0, 800)
    p.impression(viewers["seeker"], good, ad, 1, at(D, 15, 0, 5))
    p.impression(viewers["seeker"], good, ad, 2, at(D, 15, 0, 5))
    event("late_slot:start", "START", good, at(D, 16))
    event("late_slot:play", "PROGRESS", good, at(D, 16, 5), 300, 300)
    p.impression(viewers["late_slot"], good, ad, 1, at(D, 16, 5, 11))
    event("ads:start", "START", good, at(D, 17))
    event("ads:play", "PROGRESS", good, at(D, 17, 10), 600, 600)  # across slots 1 and 2
    p.impression(viewers["ads"], good, 999_999, 1, at(D, 17, 10))
    p.impression(viewers["ads"], good, ended, 1, at(D, 17, 10))
    p.impression(viewers["ads"], good, ad, 3, at(D, 17, 10))  # a 900 s video has 2 slots
    p.impression(viewers["ads"], good, ad, 2, at(D, 17, 10))  # counts
    event("replayer:start", "START", good, at(D, 18))
    event("replayer:play", "PROGRESS", good, at(D, 18, 5), 300, 300)
    p.impression(viewers["replayer"], good, ad, 1, at(D, 18, 5))  # counts
    event("replayer:again", "PROGRESS", good, at(D, 18, 10), 300, 300)  # seeks back, plays slot 1 again
    p.impression(viewers["replayer"], good, ad, 1, at(D, 18, 10))  # the same slot the same day: no more
    # An ad view needs a *counted* crossing: 600 s claimed 2 s after the start.
    event("resumer:start", "START", good, at(D, 19))
    event("resumer:claim", "PROGRESS", good, at(D, 19, 0, 2), 600, 600)
    p.impression(viewers["resumer"], good, ad, 2, at(D, 19, 0, 2))

    settings = EngineSettings(_env_file=None, database_url=database_url)
    results = pipeline.run_days(settings, D)
    assert [r.status for r in results] == ["SUCCEEDED"] * len(results), [r.error for r in results]
    return p, named, settings


def reason_of(conn, named: dict, name: str) -> str | None:
    """The reason the named event is quarantined for on its day, or None when it counts."""
    event_id, user_id, day = named[name]
    row = conn.execute(
        """SELECT reason FROM analytics.fct_quarantined_events
           WHERE settled_on = %s AND event_id = %s AND user_id = %s""",
        (day, event_id, user_id),
    ).fetchone()
    return row[0] if row else None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("copier:copy", "duplicate_event"),
        ("early:unknown", "unknown_video"),
        ("early:before", "video_not_live"),
        ("future:start", "future_timestamp"),
        ("negative:progress", "implausible_watch"),
        ("too_long:progress", "implausible_watch"),
        ("elapsed:progress", "implausible_watch"),
        ("no_start:progress", "implausible_watch"),
    ],
)
def test_each_rule_quarantines_its_event(gated, gate_conn, name, reason):
    _, named, _ = gated
    assert reason_of(gate_conn, named, name) == reason


@pytest.mark.parametrize(
    "name",
    [
        "honest:start",
        "honest:progress",
        "copier:original",
        "other:same_id",
        "early:after",
        "elapsed:after",
        "no_start:small",
        "window:start",
    ],
)
def test_what_breaks_no_rule_counts(gated, gate_conn, name):
    _, named, _ = gated
    assert reason_of(gate_conn, named, name) is None


def test_the_copy_is_kept_as_sent(gated, gate_conn):
    _, named, _ = gated
    event_id, user_id, _ = named["copier:copy"]
    raw = gate_conn.execute(
        "SELECT raw_row FROM analytics.fct_quarantined_events WHERE settled_on = %s AND event_id = %s AND user_id = %s",
        (D, event_id, user_id),
    ).fetchone()[0]
    assert dt.datetime.fromisoformat(raw["occurred_at"]) == at(D, 9) and raw["user_id"] == user_id


def test_ad_impressions_count_only_when_played_across_their_slot(gated, gate_conn):
    rows = gate_conn.execute(
        """SELECT u.username, i.ad_id, i.slot, coalesce(i.reason, 'counts')
           FROM analytics.int_ad_impressions_daily i JOIN users u ON u.id = i.user_id
           WHERE i.settled_on = %s ORDER BY 1, 4, 3""",
        (D,),
    ).fetchall()
    verdicts = sorted((user, slot, reason) for user, _, slot, reason in rows)
    assert verdicts == sorted(
        [
            ("honest", 1, "counts"),
            ("seeker", 1, "slot_not_played"),
            ("seeker", 2, "slot_not_played"),
            ("late_slot", 1, "slot_not_played"),
            ("ads", 1, "unknown_ad"),
            ("ads", 1, "ad_not_active"),
            ("ads", 3, "unknown_slot"),
            ("ads", 2, "counts"),
            ("replayer", 1, "counts"),
            ("replayer", 1, "repeat_ad_view"),
            ("resumer", 2, "slot_not_played"),
        ]
    )


def test_results_and_intake_match_the_reference(gated, gate_conn):
    p, _, _ = gated
    expected, _expected_ads = reference_settlement(p, [D - 2 * DAY, D - DAY, D])
    names = ["views", "watch_seconds", "ad_views", "video_payout", "ad_payout", "payout"]
    actual = {
        (row[0], row[1]): dict(zip(names, row[2:]))
        for row in gate_conn.execute(f"SELECT settled_on, video_id, {', '.join(names)} FROM analytics.fct_video_daily")
    }
    assert actual == {key: {name: row[name] for name in names} for key, row in expected.items()}
    for day in (D - 2 * DAY, D - DAY, D):
        engine = {
            source: (ingested, counted, by_reason)
            for source, ingested, counted, by_reason in gate_conn.execute(
                "SELECT source, ingested, counted, quarantined_by_reason FROM analytics.fct_event_intake_daily "
                "WHERE settled_on = %s",
                (day,),
            )
        }
        assert engine == reference_intake(p, day), day
    run = gate_conn.execute(
        "SELECT quarantined FROM pipeline_runs WHERE run_date = %s ORDER BY id DESC LIMIT 1", (D,)
    ).fetchone()[0]
    # negative, too long, too fast, no START, 600 s in 2 s
    assert run["watch_events"]["implausible_watch"] == 5 and run["ad_impressions"]["slot_not_played"] == 4


def test_a_take_down_keeps_what_the_video_earned_while_live(gated, gate_conn):
    """Taking the video down today, then settling D again, changes nothing of D."""
    p, named, settings = gated
    before = gate_conn.execute("SELECT * FROM analytics.fct_video_daily WHERE settled_on = %s ORDER BY video_id", (D,)).fetchall()
    p.take_down(named["good"])
    results = pipeline.run_days(settings, D)
    assert results[-1].succeeded, results[-1].error
    after = gate_conn.execute("SELECT * FROM analytics.fct_video_daily WHERE settled_on = %s ORDER BY video_id", (D,)).fetchall()
    assert after == before and any(row[1] == named["good"] and row[-1] > 0 for row in after)
