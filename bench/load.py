"""How fast generated events load, and what limits it.

    .venv/bin/python bench/load.py [--sizes 1M,5M] [--copy-events 2M] [--database-url URL]

1. `settlement generate` end to end (catalog, then events) at each size, on a fresh database.
2. The parts, on one day of --copy-events events generated once: generating and encoding alone (one
   process), then COPY alone of the same bytes into the partitioned parent (rows routed), straight into
   the day's partition, the events' keys alone into the registry (what makes (user_id, event_id) unique
   on every day), both (what `settlement generate` does now), the partition with a unique event_id index
   of its own (what it did before the registry), and both with random version-4 event ids instead of
   time-ordered ones.
Server CPU seconds come from /proc of the backend when the server runs on this machine.
Uses (drops and recreates) the database settlement_bench_load unless --database-url is given.
"""

import argparse
import datetime as dt
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import load_average, machine, server_summary
from settlement import db, migrations
from settlement import generate as generator
from settlement.commands.generate import count
from settlement.config import EngineSettings
from settlement.generate import catalog, codec, loader, producer, rows

BENCH_DATABASE = "settlement_bench_load"
DAY = dt.date(2026, 1, 15)


def backend_cpu_seconds(conn: psycopg.Connection) -> float | None:
    stat = Path(f"/proc/{conn.info.backend_pid}/stat")
    if not stat.exists():
        return None
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fresh_database(args, name: str) -> str:
    if args.database_url:
        return args.database_url
    server, _ = db.server_url(EngineSettings())
    db.drop_database(server, name)
    db.create_database_if_missing(server, name)
    url = db.with_database(server, name)
    migrations.upgrade(url)
    return url


def end_to_end(args, events: int) -> str:
    url = fresh_database(args, BENCH_DATABASE)
    config = generator.GenerateConfig(videos=args.videos, users=args.users, days=1, events_per_day=events, seed=1, first_day=DAY)
    before = load_average()
    report = generator.generate(url, config, progress=False, settings=EngineSettings(database_url=url))
    return (
        f"generate {events:>11,} events: {report.events_per_second:>10,.0f} events/s "
        f"({report.event_seconds:.1f} s events, {report.seconds:.1f} s in all; load average {before})"
    )


def generated_chunks(url: str, args, events: int, settings: EngineSettings) -> tuple[list[bytes], list[bytes], float]:
    """(the watch events' COPY data, their keys' COPY data, CPU seconds generating and encoding them)."""
    config = generator.GenerateConfig(
        videos=args.videos, users=args.users, days=1, events_per_day=events, seed=2, first_day=DAY
    ).resolved(settings.time_zone)
    with psycopg.connect(url) as conn:
        generated = catalog.create_catalog(conn, config, settings)
        days = rows.day_bounds(conn, config.first_day, config.last_day, settings.time_zone)
        migrations.ensure_day_partitions(conn, config.first_day, config.last_day, settings.time_zone)
    started = client_cpu_seconds()
    chunks = [c for c in producer.produce_chunks(config, generated, days) if not c.impressions]
    return [c.data for c in chunks], [c.keys for c in chunks], client_cpu_seconds() - started


def random_v4_ids(occurred_us: np.ndarray, counter: int, salt: int, table: int) -> np.ndarray:
    rng = np.random.default_rng([counter, salt, table])
    ids = rng.integers(0, 2**63, (len(occurred_us), 2), dtype=np.int64).astype(np.uint64)
    ids[:, 0] = ids[:, 0] & np.uint64(0xFFFF_FFFF_FFFF_0FFF) | np.uint64(0x4000)
    ids[:, 1] = ids[:, 1] & np.uint64(0x3FFF_FFFF_FFFF_FFFF) | np.uint64(0x8000_0000_0000_0000)
    return ids.astype(">u8").view("V16").ravel()


def timed_copies(conn: psycopg.Connection, copies: list[tuple[str, sql.Composable, list[bytes]]], events: int) -> str:
    """COPYs each (table, statement, data) in turn, in one transaction, after emptying the tables."""
    for table, _, _ in copies:
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(table)))
    conn.commit()
    conn.execute("CHECKPOINT")
    server_before, started = backend_cpu_seconds(conn), time.perf_counter()
    with conn.cursor() as cursor:
        for _, statement, data in copies:
            loader.copy_binary(cursor, statement, iter(data))
    conn.commit()
    seconds = time.perf_counter() - started
    server_after = backend_cpu_seconds(conn)
    server = f"; server CPU {(server_after - server_before) / events * 1e6:.2f} s per million" if server_after else ""
    return f"{events / seconds:>10,.0f} events/s{server}; load average {load_average()}"


def parts(args, events: int) -> list[str]:
    url = fresh_database(args, BENCH_DATABASE)
    settings = EngineSettings(database_url=url)
    lines = []
    chunks, keys, cpu = generated_chunks(url, args, events, settings)
    lines.append(f"generate and encode only: {events / cpu:>10,.0f} events per CPU second of one process")
    real_uuids = codec.event_uuids
    codec.event_uuids = random_v4_ids
    try:
        random_chunks, random_keys, _ = generated_chunks(url, args, events, settings)
    finally:
        codec.event_uuids = real_uuids
    with psycopg.connect(url) as conn:
        partition = generator.day_partitions(conn, [DAY])[-1]
        # The partition as it was before the registry: its own unique event_id index.
        conn.execute(sql.SQL("CREATE TABLE day_with_id_index (LIKE {} INCLUDING DEFAULTS)").format(sql.Identifier(partition)))
        conn.execute("CREATE UNIQUE INDEX day_with_id_index_event_id ON day_with_id_index (event_id)")
        conn.commit()
        into = {
            "routed": ("watch_events", codec.copy_statement("watch_events"), chunks),
            "partition": (partition, codec.copy_statement("watch_events", partition), chunks),
            "keys": ("watch_event_ids", codec.registry_copy_statement("watch_events"), keys),
            "indexed": ("day_with_id_index", codec.copy_statement("watch_events", "day_with_id_index"), chunks),
            "random": (partition, codec.copy_statement("watch_events", partition), random_chunks),
            "random keys": ("watch_event_ids", codec.registry_copy_statement("watch_events"), random_keys),
        }
        for label, parts_of in (
            ("COPY into watch_events (routed)", ["routed"]),
            (f"COPY into {partition}", ["partition"]),
            ("COPY of the keys alone into watch_event_ids", ["keys"]),
            (f"COPY into {partition} + keys (generate now)", ["partition", "keys"]),
            ("COPY into the partition with its own id index (before)", ["indexed"]),
            (f"COPY into {partition} + keys, random v4 ids", ["random", "random keys"]),
        ):
            lines.append(f"{label:<58} {timed_copies(conn, [into[part] for part in parts_of], events)}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1M,5M")
    parser.add_argument("--copy-events", type=count, default=2_000_000)
    parser.add_argument("--videos", type=count, default=50_000)
    parser.add_argument("--users", type=count, default=200_000)
    parser.add_argument("--database-url", help="use this database as it is (default: a fresh settlement_bench_load)")
    args = parser.parse_args(argv)
    server = args.database_url or db.server_url(EngineSettings())[0]
    print(f"machine: {machine()}\nserver: {server_summary(server)}", flush=True)
    for size in args.sizes.split(","):
        print(end_to_end(args, count(size)), flush=True)
    for line in parts(args, args.copy_events):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
