import datetime as dt
import threading
from fractions import Fraction

import psycopg
import pytest

from settlement import ads

SPEC_SLOT_SECONDS = 300  # SPEC: slot k plays at k * 300 s; floor((L/60 - 1)/5) slots when L/60 > 5


def spec_slot_count(seconds: int) -> int:
    minutes = Fraction(seconds, 60)
    return int((minutes - 1) // 5) if minutes > 5 else 0


@pytest.mark.parametrize(
    ("seconds", "slots"), [(1, 0), (299, 0), (300, 0), (301, 0), (359, 0), (360, 1), (659, 1), (660, 2), (3600, 11)]
)
def test_slot_count_at_the_boundaries(conn, seconds, slots):
    assert conn.execute("SELECT ad_slot_count(%s, %s)", (seconds, SPEC_SLOT_SECONDS)).fetchone()[0] == slots


def test_slot_count_matches_the_spec_formula_exactly(conn):
    lengths = [*list(range(1, 4000)), 36000, 86400, 2147483647]
    got = conn.execute(
        "SELECT ad_slot_count(l, %s) FROM unnest(%s::int[]) WITH ORDINALITY AS t(l, n) ORDER BY n", (SPEC_SLOT_SECONDS, lengths)
    )
    assert [row[0] for row in got] == [spec_slot_count(seconds) for seconds in lengths]


@pytest.mark.parametrize("slot_seconds", [1, 59, 60, 61, 120, 299, 301, 600, 3600])
def test_at_another_slot_length_every_slot_lies_before_the_videos_last_minute(conn, slot_seconds):
    """Issue 25: 0003 wrote 300 into the slot count, so another slot length gave videos slots past
    their end (or too few). Slot k plays at k * length; a video of L seconds has every slot that plays
    at least a minute before its end, and no other."""
    lengths = [*range(1, 1500), 3599, 3600, 3601, 86_400, 2_147_483_647]
    got = conn.execute(
        "SELECT ad_slot_count(l, %s) FROM unnest(%s::int[]) WITH ORDINALITY AS t(l, n) ORDER BY n", (slot_seconds, lengths)
    )
    for seconds, (slots,) in zip(lengths, got, strict=True):
        expected = (seconds - 60) // slot_seconds if seconds > slot_seconds else 0
        assert slots == expected and slots * slot_seconds <= max(seconds - 60, 0), (seconds, slot_seconds, slots)


def test_fill_gives_every_slot_an_active_ad_and_skips_other_ads(world):
    active = [world.ad() for _ in range(3)]
    world.ad(status="SCHEDULED")
    world.ad(status="EXPIRED")
    video = world.video(duration_seconds=3600)  # 11 slots

    assert ads.fill_slots(world.conn, [video]) == 11
    slots = world.slots(video)
    assert sorted(slots) == list(range(1, 12))
    assert set(slots.values()) <= set(active)
    assert sorted(world.load().values()) == [3, 4, 4]  # spread evenly


def test_fill_takes_the_least_assigned_ads_first(world):
    rarely, sometimes, often = world.ad(), world.ad(), world.ad()
    existing = world.video(duration_seconds=3600)
    for slot, ad in enumerate([sometimes, often, often, often], start=1):
        world.assign(existing, ad, slot)
    # loads rarely 0, sometimes 1, often 3: three picks one by one take rarely, then rarely and
    # sometimes (both at 1); often (3) is never the least assigned
    video = world.video(duration_seconds=960)  # 3 slots
    assert ads.fill_slots(world.conn, [video]) == 3
    assert sorted(world.slots(video).values()) == sorted([rarely, rarely, sometimes])


def test_fill_picks_at_random_among_equally_assigned_ads(world):
    candidates = {world.ad() for _ in range(3)}
    video = world.video(duration_seconds=360)  # 1 slot
    picked = set()
    for _ in range(30):
        with world.conn.transaction(force_rollback=True):
            ads.fill_slots(world.conn, [video])
            picked |= set(world.slots(video).values())
    assert picked == candidates  # a fixed choice would pick one ad 30 times in a row


def test_fill_only_fills_missing_slots_and_is_idempotent(world):
    first, _another = world.ad(), world.ad()  # the fill may pick either
    video = world.video(duration_seconds=960)  # 3 slots
    world.assign(video, first, 2)
    assert ads.fill_slots(world.conn, [video]) == 2
    assert world.slots(video)[2] == first
    assert ads.fill_slots(world.conn, [video]) == 0
    assert len(world.slots(video)) == 3


def test_fill_leaves_short_and_inactive_videos_and_no_active_ad_means_empty_slots(world):
    short = world.video(duration_seconds=300)
    inactive = world.video(duration_seconds=3600, status="INACTIVE")
    waiting = world.video(duration_seconds=3600)
    assert ads.fill_slots(world.conn, [short, inactive, waiting]) == 0  # no ACTIVE ad yet
    world.ad()
    assert ads.fill_slots(world.conn, [short, inactive, waiting]) == 11
    assert world.slots(short) == {} and world.slots(inactive) == {}


def test_fill_of_no_videos_fills_nothing_and_null_is_an_error(world):
    world.ad()
    assert ads.fill_slots(world.conn, []) == 0
    with pytest.raises(psycopg.errors.RaiseException, match="must not be NULL"):
        world.conn.execute("SELECT fill_ad_slots(NULL, 300)")
    with pytest.raises(psycopg.errors.RaiseException, match="slot length must be a positive"):
        world.conn.execute("SELECT fill_ad_slots('{}', 0)")


UPLOADERS = 8


def run_at_once(database_url: str, work) -> list:
    """Runs work(conn) on UPLOADERS connections released together; returns their results, raising any error."""
    barrier = threading.Barrier(UPLOADERS)
    results, errors = [], []

    def worker():
        try:
            with psycopg.connect(database_url) as conn:
                conn.execute("SET lock_timeout = '20s'")  # a deadlock or lost wake-up fails instead of hanging
                results.append(work(conn, barrier))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(UPLOADERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def test_concurrent_uploads_neither_deadlock_nor_skew_the_load(world, database_url):
    for _ in range(5):
        world.ad()

    def upload(conn, barrier):
        # one upload: insert the video, then fill its slots, in one transaction
        video = conn.execute(
            "INSERT INTO videos (seller_id, title, video_url, duration_seconds) VALUES (%s, 'v', 'u', 3600) RETURNING id",
            (world.seller_id,),
        ).fetchone()[0]
        barrier.wait(timeout=10)
        return ads.fill_slots(conn, [video])

    assert run_at_once(database_url, upload) == [11] * UPLOADERS
    per_video = world.conn.execute("SELECT count(*), count(DISTINCT slot) FROM video_ads GROUP BY video_id").fetchall()
    assert per_video == [(11, 11)] * UPLOADERS
    loads = world.load().values()
    assert max(loads) - min(loads) <= 1  # serialised: each fill saw the counts the previous ones committed


def test_concurrent_fills_of_one_video_never_double_a_slot(world, database_url):
    world.ad()
    world.ad()
    video = world.video(duration_seconds=3600)

    def fill(conn, barrier):
        barrier.wait(timeout=10)
        return ads.fill_slots(conn, [video])

    assert sorted(run_at_once(database_url, fill)) == [0] * (UPLOADERS - 1) + [11]
    assert sorted(world.slots(video)) == list(range(1, 12))


def counters_match(conn) -> bool:
    """Every ad's assigned_slots equals the slots it holds."""
    return conn.execute(
        """SELECT bool_and(a.assigned_slots = (SELECT count(*) FROM video_ads va WHERE va.ad_id = a.id)) FROM ads a"""
    ).fetchone()[0]


def test_the_slot_counter_follows_every_change_of_video_ads(world):
    first, second, third = world.ad(), world.ad(), world.ad()
    videos = [world.video(duration_seconds=960) for _ in range(3)]  # 3 slots each
    assert ads.fill_slots(world.conn, videos) == 9
    assert counters_match(world.conn)
    steps = [
        "DELETE FROM video_ads WHERE slot = 1",
        f"UPDATE video_ads SET ad_id = {first} WHERE slot = 2",  # a move between ads
        f"UPDATE video_ads SET ad_id = {second} WHERE slot = 2 AND video_id = {videos[0]}",
        f"DELETE FROM videos WHERE id = {videos[1]}",  # cascades to its slots
        f"INSERT INTO video_ads (video_id, ad_id, slot) VALUES ({videos[0]}, {third}, 1)",
    ]
    for step in steps:
        world.conn.execute(step)
        assert counters_match(world.conn), step
    with world.conn.transaction():  # refill in one go, then refresh frees an expired ad's slots
        ads.fill_slots(world.conn, videos)
        world.conn.execute("UPDATE ads SET contract_end = '2026-03-01' WHERE id = %s", (first,))
        ads.refresh_lifecycle(world.conn, dt.date(2026, 3, 1))
    assert counters_match(world.conn) and world.load().get(first) is None
    world.conn.execute("TRUNCATE video_ads")
    assert counters_match(world.conn)
    assert world.conn.execute("SELECT sum(assigned_slots) FROM ads").fetchone()[0] == 0
