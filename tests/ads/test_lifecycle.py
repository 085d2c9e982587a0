import datetime as dt
import subprocess

import psycopg
import pytest

from settlement import ads, clock, migrations
from settlement.config import PROJECT_ROOT, EngineSettings

START, END = dt.date(2026, 3, 10), dt.date(2026, 3, 20)


@pytest.mark.parametrize(
    ("as_of", "status"),
    [
        (START - dt.timedelta(days=1), "SCHEDULED"),  # day before start
        (START, "ACTIVE"),  # start day
        (END - dt.timedelta(days=1), "ACTIVE"),  # last day of the contract
        (END, "EXPIRED"),  # end day: "stops earning from its end date on"
        (END + dt.timedelta(days=1), "EXPIRED"),  # day after end
    ],
)
def test_status_at_the_contract_boundaries(world, as_of, status):
    ad = world.ad(START, END, status="SCHEDULED")
    ads.refresh_lifecycle(world.conn, as_of)
    assert world.status(ad) == status


def test_refresh_counts_the_transitions_and_is_idempotent(world):
    upcoming = world.ad(START, END, status="SCHEDULED")
    ending = world.ad(dt.date(2026, 1, 1), START, status="ACTIVE")
    world.ad(dt.date(2026, 1, 1), dt.date(2026, 12, 31), status="ACTIVE")  # unchanged

    first = ads.refresh_lifecycle(world.conn, START)
    assert (first.activated, first.expired, first.scheduled) == (1, 1, 0)
    assert (world.status(upcoming), world.status(ending)) == ("ACTIVE", "EXPIRED")
    again = ads.refresh_lifecycle(world.conn, START)
    assert (again.activated, again.expired, again.scheduled, again.slots_freed, again.slots_filled) == (0, 0, 0, 0, 0)


def test_an_ad_moved_back_before_its_contract_is_scheduled_again_and_loses_its_slots(world):
    ad = world.ad(START, END, status="ACTIVE")
    video = world.video(duration_seconds=360)
    world.assign(video, ad, 1)
    result = ads.refresh_lifecycle(world.conn, START - dt.timedelta(days=3))
    assert (world.status(ad), result.scheduled, result.slots_freed, world.slots(video)) == ("SCHEDULED", 1, 1, {})


def test_expired_slots_are_refilled_with_the_least_assigned_active_ads(world):
    expiring = world.ad(dt.date(2026, 1, 1), START, status="ACTIVE")
    busy = world.ad(dt.date(2026, 1, 1), dt.date(2026, 12, 31), status="ACTIVE")
    idle = world.ad(dt.date(2026, 1, 1), dt.date(2026, 12, 31), status="ACTIVE")
    starting = world.ad(START, END, status="SCHEDULED")
    first, second = world.video(duration_seconds=960), world.video(duration_seconds=960)  # 3 slots each
    for slot, ad in enumerate([expiring, busy, busy], start=1):
        world.assign(first, ad, slot)
    for slot, ad in enumerate([busy, expiring, busy], start=1):
        world.assign(second, ad, slot)

    result = ads.refresh_lifecycle(world.conn, START)

    assert (result.activated, result.expired, result.slots_freed, result.slots_filled, result.slots_empty) == (1, 1, 2, 2, 0)
    # the two freed slots go to the ads holding none (idle, and starting, active from today); busy keeps 4
    assert {world.slots(first)[1], world.slots(second)[2]} == {idle, starting}
    assert world.load() == {busy: 4, idle: 1, starting: 1}
    assert expiring not in world.load()


def test_refresh_fills_slots_left_empty_while_no_ad_was_active(world):
    video = world.video(duration_seconds=660)  # 2 slots
    assert ads.fill_slots(world.conn, [video]) == 0
    world.ad(START, END, status="SCHEDULED")
    before = ads.refresh_lifecycle(world.conn, START - dt.timedelta(days=1))
    assert (before.slots_filled, before.slots_empty) == (0, 2)
    after = ads.refresh_lifecycle(world.conn, START)
    assert (after.slots_filled, after.slots_empty) == (2, 0)


def test_refresh_of_a_null_day_is_an_error(conn):
    with pytest.raises(psycopg.errors.RaiseException, match="must not be NULL"):
        conn.execute("SELECT * FROM refresh_ad_lifecycle(NULL, 300)")
    with pytest.raises(psycopg.errors.RaiseException, match="slot length must be a positive"):
        conn.execute("SELECT * FROM refresh_ad_lifecycle('2026-01-01', NULL)")


def test_the_platform_day_of_an_instant_is_its_day_in_the_platform_time_zone():
    seoul = EngineSettings(_env_file=None, time_zone="Asia/Seoul")
    just_after_midnight_in_seoul = dt.datetime(2026, 3, 9, 15, 0, tzinfo=dt.UTC)
    assert clock.day_of(just_after_midnight_in_seoul, seoul.zone) == dt.date(2026, 3, 10)
    assert clock.day_of(just_after_midnight_in_seoul, EngineSettings(_env_file=None, time_zone="UTC").time_zone) == dt.date(
        2026, 3, 9
    )
    with pytest.raises(ValueError, match="aware"):
        clock.day_of(dt.datetime(2026, 3, 9), seoul.zone)


def test_cli_refresh_prints_the_counts(world, database_url):
    world.ad(START, END, status="SCHEDULED")
    world.video(duration_seconds=360)
    done = subprocess.run(
        [str(PROJECT_ROOT / ".venv/bin/settlement"), "ads", "refresh", "--as-of", START.isoformat()],
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert f"ads refreshed for {START}" in done.stdout
    assert "activated            1" in done.stdout and "slots_filled         1" in done.stdout


FUNCTIONS = ("ad_slot_count", "ad_status_on", "fill_ad_slots", "refresh_ad_lifecycle")


def test_ad_migrations_downgrade_and_upgrade_cleanly(fresh_database):
    url = fresh_database("settlement_ads_migrate")
    migrations.upgrade(url)

    def schema() -> tuple[set[str], bool]:
        with psycopg.connect(url) as conn:
            functions = {
                row[0] for row in conn.execute("SELECT proname FROM pg_proc WHERE proname = ANY(%s)", (list(FUNCTIONS),))
            }
            counter = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'ads' AND column_name = 'assigned_slots')"
            ).fetchone()[0]
        return functions, counter

    def fill_works(one_argument: bool = False) -> int:
        """Slots filled for a 960 s video (before 0061, fill_ad_slots took no slot length)."""
        with psycopg.connect(url) as conn, conn.transaction(force_rollback=True):
            conn.execute("INSERT INTO users (email, username, password_hash) VALUES ('m@example.com', 'm', 'x')")
            conn.execute(
                "INSERT INTO ads (title, ad_url, duration_seconds, contract_start, contract_end, status) VALUES ('a', 'u', 15, '2026-01-01', '2026-12-31', 'ACTIVE')"
            )
            video = conn.execute(
                "INSERT INTO videos (seller_id, title, video_url, duration_seconds) SELECT id, 'v', 'u', 960 FROM users RETURNING id"
            ).fetchone()[0]
            if one_argument:
                return conn.execute("SELECT fill_ad_slots(ARRAY[%s]::bigint[])", (video,)).fetchone()[0]
            return ads.fill_slots(conn, [video])

    assert schema() == (set(FUNCTIONS), True) and fill_works() == 3
    migrations.downgrade(url, "0060")  # before the slot length was a parameter
    assert schema() == (set(FUNCTIONS), True) and fill_works(one_argument=True) == 3
    migrations.downgrade(url, "0005")  # before the slot counter: fill_ad_slots counts video_ads again
    assert schema() == (set(FUNCTIONS), False) and fill_works(one_argument=True) == 3
    migrations.downgrade(url, "0002")
    assert schema() == (set(), False)
    migrations.upgrade(url)
    assert schema() == (set(FUNCTIONS), True) and fill_works() == 3
