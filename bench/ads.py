"""Ad slots at scale: the daily refresh and the per-upload fill, on a large catalog.

    .venv/bin/python bench/ads.py [--videos 200000] [--ads 1000] [--uploads 200] [--uploaders 8] [--database-url URL]

Uses (drops and recreates) the database settlement_bench_ads unless --database-url is given.
Prints: the first refresh (fills every slot), one upload's fill (serial and from concurrent uploaders),
the refresh after 10% of the ads expire, and a refresh with nothing to do; and the load spread.
"""

import argparse
import datetime as dt
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from settlement import ads, db, migrations
from settlement.config import EngineSettings

BENCH_DATABASE = "settlement_bench_ads"
CONTRACT_START, EARLY_END, LATE_END = dt.date(2026, 1, 1), dt.date(2026, 6, 1), dt.date(2026, 12, 31)


def bench_database(url: str | None) -> str:
    if url:
        return url
    server, _ = db.server_url(EngineSettings())
    db.drop_database(server, BENCH_DATABASE)
    db.create_database_if_missing(server, BENCH_DATABASE)
    return db.with_database(server, BENCH_DATABASE)


def load_catalog(conn: psycopg.Connection, videos: int, ad_count: int) -> int:
    conn.execute("INSERT INTO users (email, username, password_hash, role) VALUES ('bench@example.com', 'bench', 'x', 'SELLER')")
    conn.execute(
        """INSERT INTO videos (seller_id, title, video_url, duration_seconds)
           SELECT 1, 'v', 'https://v.example/v', 60 + (random() * 3540)::int FROM generate_series(1, %s)""",
        (videos,),
    )
    # every tenth ad's contract ends early, to measure a refresh that refills expired slots
    conn.execute(
        """INSERT INTO ads (title, ad_url, duration_seconds, contract_start, contract_end)
           SELECT 'ad', 'https://ad.example/a', 15, %s, CASE WHEN i %% 10 = 0 THEN %s::date ELSE %s::date END
           FROM generate_series(1, %s) AS i""",
        (CONTRACT_START, EARLY_END, LATE_END, ad_count),
    )
    conn.execute("VACUUM ANALYZE videos")
    conn.execute("VACUUM ANALYZE ads")
    return conn.execute("SELECT sum(ad_slot_count(duration_seconds, %s)) FROM videos", (ads.DEFAULT_SLOT_SECONDS,)).fetchone()[0]


def timed_refresh(conn: psycopg.Connection, day: dt.date, label: str) -> None:
    started = time.perf_counter()
    result = ads.refresh_lifecycle(conn, day)
    print(f"{label:<34} {time.perf_counter() - started:8.2f} s   {result.counts()}")


def upload(conn: psycopg.Connection) -> float:
    """One upload (insert a 60-minute video, fill its 11 slots, commit); its fill's seconds."""
    with conn.transaction():
        video = conn.execute(
            "INSERT INTO videos (seller_id, title, video_url, duration_seconds) VALUES (1, 'v', 'u', 3600) RETURNING id"
        ).fetchone()[0]
        started = time.perf_counter()
        ads.fill_slots(conn, [video])
        return time.perf_counter() - started


def describe_ms(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"median {statistics.median(ordered) * 1000:6.1f} ms, p95 {p95 * 1000:6.1f} ms, max {ordered[-1] * 1000:6.1f} ms"


def concurrent_uploads(url: str, uploaders: int, per_uploader: int) -> tuple[float, list[float]]:
    fills: list[float] = []
    errors: list[Exception] = []

    def work():
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                for _ in range(per_uploader):
                    fills.append(upload(conn))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(uploaders)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started, fills


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=200_000)
    parser.add_argument("--ads", type=int, default=1_000)
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--uploaders", type=int, default=8)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    url = bench_database(args.database_url)
    migrations.upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        slots = load_catalog(conn, args.videos, args.ads)
        print(f"catalog: {args.videos:,} videos with {slots:,} ad slots, {args.ads:,} ads")
        timed_refresh(conn, CONTRACT_START, "first refresh (fills every slot)")
        conn.execute("VACUUM ANALYZE video_ads")
        serial = [upload(conn) for _ in range(args.uploads)]
        print(f"{'upload fill, one at a time':<34} {describe_ms(serial)}")
    per_uploader = max(1, args.uploads // args.uploaders)
    wall, fills = concurrent_uploads(url, args.uploaders, per_uploader)
    print(f"{f'upload fill, {args.uploaders} uploaders at once':<34} {describe_ms(fills)}; {len(fills) / wall:,.0f} uploads/s")
    with psycopg.connect(url, autocommit=True) as conn:
        timed_refresh(conn, EARLY_END, "refresh, 10% of ads expire")
        timed_refresh(conn, EARLY_END + dt.timedelta(days=1), "refresh, nothing to do")
        low, high = conn.execute("SELECT min(assigned_slots), max(assigned_slots) FROM ads WHERE status = 'ACTIVE'").fetchone()
        print(f"slots per active ad: {low:,} .. {high:,}")


if __name__ == "__main__":
    main()
