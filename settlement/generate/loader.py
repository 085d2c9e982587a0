"""The entry point, generate(): the catalog, then each day's chunks COPYed straight into the day's
partitions, with their keys into the registries over a second connection."""

import datetime as dt
import logging
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NoReturn

import psycopg
from psycopg import sql

from settlement import migrations, warehouse
from settlement.config import CommonSettings, get_settings
from settlement.generate.attacks import create_attackers
from settlement.generate.catalog import Catalog, create_catalog
from settlement.generate.codec import COPY_SIGNATURE, COPY_TRAILER, copy_statement, registry_copy_statement
from settlement.generate.config import GenerateConfig, GenerateReport, filled_in
from settlement.generate.producer import produced
from settlement.generate.rows import Day, day_bounds

if TYPE_CHECKING:
    from tqdm import tqdm

log = logging.getLogger(__name__)


def generate(
    database_url: str, config: GenerateConfig, progress: bool = True, settings: CommonSettings | None = None
) -> GenerateReport:
    """Appends synthetic users, videos, ads, slots and `config.days` days of events to a migrated database."""
    settings = settings or get_settings()
    config = config.resolved(settings.time_zone)
    first_day = filled_in(config.first_day, "first_day")
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn:
        catalog = create_catalog(conn, config, settings)
        if config.attack_share:
            create_attackers(conn, config, settings, catalog)
        days = day_bounds(conn, first_day, config.last_day, settings.time_zone)
        migrations.ensure_day_partitions(conn, first_day, config.last_day, settings.time_zone)
        conn.commit()
        log.info("catalog: %s", catalog.rows)
        events_started = time.perf_counter()
        loaded = load_days(conn, config, catalog, days, progress)
        event_seconds = time.perf_counter() - events_started
        analyze_day_partitions(conn, [day.day for day in days])
    finished = time.perf_counter()
    return GenerateReport(
        rows={**catalog.rows, **loaded},
        seconds=finished - started,
        events_per_second=loaded["watch_events"] / event_seconds if event_seconds > 0 else 0.0,
        event_seconds=event_seconds,
        first_day=first_day,
        last_day=config.last_day,
        user_ids=(int(catalog.user_ids[0]), int(catalog.user_ids[-1])),
        video_ids=(int(catalog.video_ids[0]), int(catalog.video_ids[-1])),
    )


def day_partitions(conn: psycopg.Connection, days: list[dt.date]) -> list[str]:
    """The event tables' partitions of these days (named <table>_YYYYMMDD by ensure_day_partitions)."""
    wanted = [warehouse.day_table(table, day) for table in ("watch_events", "ad_impressions") for day in days]
    rows = conn.execute(
        """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent IN ('watch_events'::regclass, 'ad_impressions'::regclass)
             AND c.relname = ANY (%s) ORDER BY c.relname""",
        (wanted,),
    ).fetchall()
    return [name for (name,) in rows]


def analyze_day_partitions(conn: psycopg.Connection, days: list[dt.date]) -> None:
    """Fresh statistics for the loaded days, so the next settlement plans with them (autovacuum would
    get there within a minute or so)."""
    for name in day_partitions(conn, days):
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(name)))
    conn.commit()


def copy_binary(cursor: psycopg.Cursor[tuple[Any, ...]], statement: sql.Composed, chunks: Iterable[bytes]) -> None:
    with cursor.copy(statement) as copy:
        copy.write(COPY_SIGNATURE)
        for data in chunks:
            copy.write(data)
        copy.write(COPY_TRAILER)


def progress_bar(total: int, enabled: bool) -> "tqdm[NoReturn]":
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit=" events",
        unit_scale=True,
        file=sys.stderr,
        disable=not enabled,
        desc="watch events",
        smoothing=0.1,
    )


# Copies of recorded events (attack traffic) are COPYed here, then kept in duplicate_events with their
# raw row as record_watch_event() keeps a copy (migration 0009), in the order they arrived.
COPIES_TABLE = "generated_copies"
CREATE_COPIES_TABLE = f"""
    CREATE TEMPORARY TABLE IF NOT EXISTS {COPIES_TABLE} (LIKE watch_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"""
RECORD_COPIES = f"""
    INSERT INTO duplicate_events (source, event_id, occurred_at, received_at, raw_row)
    SELECT 'watch_events', event_id, occurred_at, received_at, jsonb_build_object(
               'event_id', event_id, 'kind', kind, 'user_id', user_id, 'video_id', video_id,
               'occurred_at', occurred_at, 'position_seconds', position_seconds,
               'watched_seconds', watched_seconds, 'received_at', received_at)
    FROM {COPIES_TABLE}
    ORDER BY received_at, event_id"""


def load_days(
    conn: psycopg.Connection, config: GenerateConfig, catalog: Catalog, days: list[Day], progress: bool
) -> dict[str, int]:
    """COPYs each day's watch events chunk by chunk, then its ad impressions, and commits the day.
    The events' keys go into the registry over a second connection at the same time, so that a
    second server process (and core) carries the registry's index. The keys commit just before the
    day's events: no event is ever without its key, and no copy is recorded before the key it copies.
    A failure between the two commits leaves keys of events never loaded: ids of this catalog's salt,
    which nothing else draws."""
    loaded = {"watch_events": 0, "ad_impressions": 0, **({"duplicate_events": 0} if config.attack_share else {})}
    if config.attack_share:
        conn.execute(CREATE_COPIES_TABLE)
    with (
        psycopg.connect(conn.info.dsn, password=conn.info.password) as keys_conn,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry") as registry,
        produced(config, catalog, days) as chunks,
        progress_bar(config.total_events, progress) as bar,
        conn.cursor() as cursor,
        keys_conn.cursor() as keys_cursor,
    ):
        # Straight into the day's partitions: skips routing each row (the server still checks every row
        # against the partition's bounds).
        partitions = {}
        for chunk in chunks:
            if chunk.day.day not in partitions:
                partitions = {
                    chunk.day.day: {warehouse.parse_day_table(name)[0]: name for name in day_partitions(conn, [chunk.day.day])}
                }
            table = "ad_impressions" if chunk.impressions else "watch_events"
            keys_copied = registry.submit(copy_binary, keys_cursor, registry_copy_statement(table), [chunk.keys])
            copy_binary(cursor, copy_statement(table, partitions[chunk.day.day].get(table)), [chunk.data])
            if chunk.copy_rows:
                copy_binary(cursor, copy_statement("watch_events", COPIES_TABLE), [chunk.copies])
                loaded["duplicate_events"] += chunk.copy_rows
            keys_copied.result()
            loaded[table] += chunk.rows
            if chunk.impressions:  # the day's last chunk
                keys_conn.commit()
                if config.attack_share:
                    cursor.execute(RECORD_COPIES)
                conn.commit()
                bar.set_postfix_str(f"{chunk.day.day} committed", refresh=False)
            else:
                bar.update(chunk.rows + chunk.copy_rows)
    return loaded
