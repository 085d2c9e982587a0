"""One node against the local Citus cluster: the same generated day settled on single-node PostgreSQL and on
a coordinator with two workers (tests/citus/cluster.py, built and started when needed), both times printed.

    .venv/bin/python bench/citus.py [--events 1M] [--videos 50k] [--users 500k] [--seed 2026]

It drops and recreates `settlement_bench_citus` on the server the app would pick and on the cluster,
generates the same day (yesterday; the generator is deterministic for a seed) into both, and settles it
in a fresh process each (bench/run.py's settle: the dbt project parsed before the clock starts; the run's
own time). Then it checks that both settled the same payouts. The cluster is left as it was found
(stopped again when this started it).
"""

import argparse
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import load_average, machine, server_summary, settle
from settlement import clock, db, migrations
from settlement.commands.generate import count
from settlement.config import EngineSettings
from settlement.generate import GenerateConfig, generate
from tests.citus.cluster import CitusCluster

DATABASE = "settlement_bench_citus"
TOTALS = """SELECT count(*), sum(views), sum(watch_seconds), sum(ad_views), sum(payout)
            FROM analytics.fct_video_daily WHERE settled_on = %s"""


def measure(label: str, url: str, config: GenerateConfig) -> dict:
    settings = EngineSettings(database_url=url)
    started = time.perf_counter()
    migrations.upgrade(url)
    report = generate(url, config, progress=False, settings=settings)
    print(
        f"[{label}] migrated and generated {report.rows['watch_events']:,} events in {time.perf_counter() - started:.1f} s "
        f"({report.events_per_second:,.0f} events/s)",
        flush=True,
    )
    load_before = load_average()
    outcome = settle(url, config.first_day)
    [(day, status, seconds, error)] = outcome["runs"]
    if status != "SUCCEEDED":
        raise SystemExit(f"[{label}] settling {day} failed: {error}")
    with psycopg.connect(url) as conn:
        totals = conn.execute(TOTALS, (day,)).fetchone()
    print(
        f"[{label}] settled {day} in {seconds:.2f} s (load average before {load_before}, after {load_average()}); "
        f"slowest nodes: {outcome['slowest']}",
        flush=True,
    )
    return {"seconds": seconds, "totals": totals, "slowest": outcome["slowest"], "load": load_before}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=count, default=1_000_000, help="events of the day (default 1M)")
    parser.add_argument("--videos", type=count, default=50_000)
    parser.add_argument("--users", type=count, default=500_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)

    settings = EngineSettings()
    config = GenerateConfig(
        videos=args.videos,
        users=args.users,
        days=1,
        events_per_day=args.events,
        seed=args.seed,
        first_day=clock.yesterday(settings.time_zone),
    )
    server, _ = db.server_url(settings)
    db.drop_database(server, DATABASE)
    db.create_database_if_missing(server, DATABASE)
    single_url = db.with_database(server, DATABASE)

    cluster = CitusCluster(database=None)
    started = time.perf_counter()
    with cluster:
        print(f"cluster up in {time.perf_counter() - started:.1f} s", flush=True)
        cluster.drop_database(DATABASE)
        citus_url = cluster.create_database(DATABASE)
        print(
            f"machine: {machine()}\none node: {server_summary(single_url)}\nCitus coordinator: {server_summary(citus_url)}",
            flush=True,
        )
        single = measure("one node", single_url, config)
        citus = measure("Citus, coordinator + 2 workers", citus_url, config)
        cluster.drop_database(DATABASE)
    db.drop_database(server, DATABASE)

    same = single["totals"] == citus["totals"]
    print(f"\n{args.events:,} events, {args.videos:,} videos, {args.users:,} users (seed {args.seed})")
    print(f"one node:           {single['seconds']:6.2f} s   (load average {single['load']})")
    print(f"Citus (1 + 2 nodes): {citus['seconds']:6.2f} s   (load average {citus['load']})")
    print(f"same payouts: {'yes' if same else 'NO'} (videos, views, watch seconds, ad views, payout: {single['totals']})")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
