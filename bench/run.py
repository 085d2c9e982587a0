"""Settlement benchmark: generated days of 1M, 5M and 20M events, the pipeline beside three floor queries
of the same day, 30 days of history, and a 50,000-video day. Prints numbers and whether each target is met.

    .venv/bin/python bench/run.py [--sizes 1M,5M,20M] [--days 30] [--database-url URL]

The floors, best of three on a warm cache: `video` (GROUP BY video_id: what the original's work was),
`pair` (GROUP BY user_id, video_id with count, sum, min, max: the least a per-viewer rule can cost),
`sorted` (lag over (user, video, time) and a per-pair aggregate: what an ordered pass costs).

Without --database-url it uses (drops and recreates) the database `settlement_bench` on the server the
app would pick. Timeline, consecutive platform days ending yesterday: the 50,000-video day, two empty
days (its events leave the view window), `--days` days of history at --history-events a day, then one
day per size (each size day settles on the days before it, as a growing platform would).
Each pipeline run happens in a fresh process (its peak memory is that process's); the dbt project is
parsed there before the clock starts. Each measured day is VACUUMed first, as autovacuum would have
done to an insert-only partition by settlement time, so the floor and the pipeline read the same pages.
"""

import argparse
import datetime as dt
import json
import multiprocessing
import os
import platform
import queue
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from settlement import clock, db, migrations, pipeline
from settlement.commands.generate import count
from settlement.config import PROJECT_ROOT, EngineSettings
from settlement.generate import GenerateConfig, day_partitions, generate

BENCH_DATABASE = "settlement_bench"
TARGET_RATIO = 3.0  # pipeline / pair floor, days of 5M events and more
TARGET_RATIO_FROM_EVENTS = 5_000_000
TARGET_HISTORY = 1.2  # last history day / first
TARGET_SMALL_DAY_SECONDS = 2.0  # the 1M-event day and the 50,000-video day
TARGET_LOAD_RATE = 400_000  # generated events loaded per second, end to end
ORIGINAL_SECONDS = 183  # the Spring Batch original, 50,000 records

DAY = "occurred_at >= %(start)s AND occurred_at < %(end)s"
FLOOR_QUERIES = {
    "video": f"SELECT video_id, count(*), sum(watched_seconds) FROM watch_events WHERE {DAY} GROUP BY video_id",
    "pair": f"""SELECT user_id, video_id, count(*), sum(watched_seconds), min(occurred_at), max(occurred_at)
                FROM watch_events WHERE {DAY} GROUP BY user_id, video_id""",
    "sorted": f"""SELECT user_id, video_id, count(*), sum(watched_seconds), max(occurred_at - previous_at)
                  FROM (SELECT user_id, video_id, occurred_at, watched_seconds,
                               lag(occurred_at) OVER (PARTITION BY user_id, video_id ORDER BY occurred_at) AS previous_at
                        FROM watch_events WHERE {DAY}) AS ordered
                  GROUP BY user_id, video_id""",
}
FLOOR_SETTINGS = "SET work_mem = '2GB'; SET hash_mem_multiplier = 4; SET jit = off"


@dataclass
class Measured:
    label: str
    day: dt.date
    events: int
    videos: int = 0
    load_rate: float = 0.0
    vacuum_seconds: float = 0.0
    floors: dict = field(default_factory=dict)  # name -> best seconds
    pipeline_seconds: float = 0.0
    temp_bytes: int = 0  # written to temporary files while the day was settled
    nodes: int = 0
    peak_rss_mb: float = 0.0
    status: str = ""
    slowest: list = field(default_factory=list)
    load_average: str = ""

    @property
    def ratio(self) -> float:
        """pipeline / pair floor"""
        return self.pipeline_seconds / self.floors["pair"] if self.floors.get("pair") else float("nan")

    @property
    def events_per_second(self) -> float:
        return self.events / self.pipeline_seconds if self.pipeline_seconds else 0.0


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} x {cpu}, {memory:.0f} GiB RAM, {platform.system()} {platform.release()}"


def server_summary(url: str) -> str:
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = conn.execute(
            """SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings
               WHERE name IN ('shared_buffers', 'work_mem', 'max_wal_size', 'max_parallel_workers_per_gather',
                              'synchronous_commit', 'jit')"""
        ).fetchone()[0]
    return f"PostgreSQL {version} ({settings})"


# ---------------------------------------------------------------------------------------------------
# Measuring


def day_range(day: dt.date, time_zone: str) -> dict:
    """The platform day's bounds, as the day's partition has them."""
    zone = ZoneInfo(time_zone)
    return {
        "start": dt.datetime.combine(day, dt.time(), zone),
        "end": dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone),
    }


def vacuum_day(url: str, day: dt.date) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for name in day_partitions(conn, [day]):
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(name)))
    return time.perf_counter() - started


def measure_floors(url: str, day: dt.date, time_zone: str, runs: int = 3) -> tuple[dict, int]:
    """Best of `runs` of each floor query (the first one warms the cache, as the pipeline's reads are warm
    too); and how many videos had events."""
    bounds = day_range(day, time_zone)
    floors, videos = {}, 0
    with psycopg.connect(url) as conn:
        conn.execute(FLOOR_SETTINGS)
        for name, query in FLOOR_QUERIES.items():
            best = float("inf")
            for _ in range(runs):
                started = time.perf_counter()
                rows = len(conn.execute(query, bounds).fetchall())
                best = min(best, time.perf_counter() - started)
            floors[name] = best
            videos = rows if name == "video" else videos
    return floors, videos


def temp_bytes(url: str) -> int:
    """What the database has written to temporary files so far (pg_stat_database)."""
    with psycopg.connect(url) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return conn.execute("SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]


def explain_floor(url: str, day: dt.date, time_zone: str, floor: str = "pair") -> str:
    with psycopg.connect(url) as conn:
        conn.execute(FLOOR_SETTINGS)
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + FLOOR_QUERIES[floor], day_range(day, time_zone)).fetchall()
    return "\n".join(row[0] for row in rows)


def run_results(database_url: str) -> list[dict]:
    """The nodes of the last dbt build against that database (dbt's run_results.json)."""
    path = PROJECT_ROOT / "target" / conninfo_to_dict(database_url)["dbname"] / "run_results.json"
    return json.loads(path.read_text()).get("results", []) if path.exists() else []


def slowest_nodes(database_url: str, top: int = 6) -> list[tuple[str, float]]:
    timed = sorted(
        ((r["unique_id"].split(".", 2)[-1], r.get("execution_time") or 0.0) for r in run_results(database_url)),
        key=lambda item: -item[1],
    )
    return [(name, round(seconds, 2)) for name, seconds in timed[:top]]


def settle_in_child(url: str, first: dt.date, last: dt.date, results) -> None:
    """In a fresh process: parse the dbt project, then settle first..last; report back through `results`.
    The parse is dbt's own, not the stored one (settlement.manifests) that the run then uses: it also
    compiles the macros' templates, a process's one-time cost (~0.5 s) that the clock leaves out, as a
    long-running scheduler pays it once."""
    settings = EngineSettings(database_url=url)
    variables = pipeline.dbt_vars(settings, first)
    assert pipeline.invoke_dbt(url, ["parse"], variables).success
    pipeline.parsed_project(url, variables)
    started = time.perf_counter()
    runs = pipeline.run_days(settings, first, last)
    results.put(
        {
            "wall": time.perf_counter() - started,
            "runs": [(run.run_date, run.status, run.seconds, run.error) for run in runs],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "slowest": slowest_nodes(url),
            "nodes": len(run_results(url)),
        }
    )


def settle_once(url: str, first: dt.date, last: dt.date) -> dict:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=settle_in_child, args=(url, first, last, results))
    child.start()
    while True:
        try:
            outcome = results.get(timeout=5)
            break
        except queue.Empty:
            if not child.is_alive():
                raise RuntimeError(f"the settlement process died (exit code {child.exitcode})") from None
    child.join()
    return outcome


def settle(url: str, first: dt.date, last: dt.date | None = None) -> dict:
    """Settles first..last in a fresh process; a failed day is tried once more (and said so)."""
    last = last or first
    outcome = settle_once(url, first, last)
    failed = [run for run in outcome["runs"] if run[1] != "SUCCEEDED"]
    if failed:
        day, _, seconds, error = failed[0]
        print(f"  !! settling {day} FAILED after {seconds:.1f} s, trying again from it: {error}", flush=True)
        retry = settle_once(url, day, last)
        if any(run[1] != "SUCCEEDED" for run in retry["runs"]):
            raise RuntimeError(f"settling failed twice: {retry['runs']}")
        outcome["runs"] = [run for run in outcome["runs"] if run[0] < day] + retry["runs"]
        outcome["wall"] += retry["wall"]
        outcome["peak_rss_mb"] = max(outcome["peak_rss_mb"], retry["peak_rss_mb"])
        outcome["slowest"] = retry["slowest"]
    return outcome


def load(url: str, settings: EngineSettings, label: str, config: GenerateConfig) -> float:
    print(f"\n== {label}: generating {config.days} day(s) x {config.events_per_day:,} events from {config.first_day}", flush=True)
    report = generate(url, config, progress=True, settings=settings)
    print("  " + "\n  ".join(report.lines()), flush=True)
    return report.events_per_second


def measure_day(url: str, settings: EngineSettings, label: str, day: dt.date, events: int, load_rate: float) -> Measured:
    measured = Measured(label, day, events, load_rate=load_rate, load_average=load_average())
    measured.vacuum_seconds = vacuum_day(url, day)
    measured.floors, measured.videos = measure_floors(url, day, settings.time_zone)
    spilled_before = temp_bytes(url)
    outcome = settle(url, day)
    time.sleep(1)  # the statistics of the run's backends reach pg_stat_database
    measured.temp_bytes = temp_bytes(url) - spilled_before
    ((_, measured.status, measured.pipeline_seconds, _),) = [run for run in outcome["runs"] if run[0] == day]
    measured.peak_rss_mb = outcome["peak_rss_mb"]
    measured.slowest = outcome["slowest"]
    measured.nodes = outcome["nodes"]
    floors = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in measured.floors.items())
    print(
        f"  {label}: floors {floors}; pipeline {measured.pipeline_seconds:.2f} s, {measured.nodes} nodes, "
        f"temp files {measured.temp_bytes / 2**20:.0f} MB (load average {measured.load_average}); "
        f"slowest nodes {measured.slowest}",
        flush=True,
    )
    return measured


# ---------------------------------------------------------------------------------------------------
# The run


def bench_database(args, settings: EngineSettings) -> str:
    if args.database_url:
        return args.database_url
    server, _ = db.server_url(settings)
    db.drop_database(server, BENCH_DATABASE)
    db.create_database_if_missing(server, BENCH_DATABASE)
    return db.with_database(server, BENCH_DATABASE)


def print_table(rows: list[Measured]) -> None:
    print(
        f"\n{'day':<12}{'events':>12}{'videos':>9}{'video fl':>9}{'pair fl':>9}{'sorted fl':>10}{'pipeline s':>11}"
        f"{'/pair':>7}{'spill MB':>9}{'nodes':>6}{'peak MB':>8}{'load ev/s':>11}  load avg"
    )
    for row in rows:
        print(
            f"{row.label:<12}{row.events:>12,}{row.videos:>9,}{row.floors['video']:>9.2f}{row.floors['pair']:>9.2f}"
            f"{row.floors['sorted']:>10.2f}{row.pipeline_seconds:>11.2f}{row.ratio:>7.1f}{row.temp_bytes / 2**20:>9.0f}"
            f"{row.nodes:>6}{row.peak_rss_mb:>8.0f}{row.load_rate:>11,.0f}  {row.load_average}"
        )


def verdict(name: str, value: float, target: str, met: bool) -> str:
    return f"  [{'MET' if met else 'NOT MET'}] {name}: {value:,.2f} (target {target})"


@dataclass
class Timeline:
    """Consecutive platform days ending yesterday: the video day and two empty days after it (its
    events leave the view window), the history days, one day per size."""

    video_day: dt.date | None
    history: list[dt.date]
    sizes: list[dt.date]

    @classmethod
    def ending(cls, last: dt.date, video_day: bool, history_days: int, sizes: int) -> "Timeline":
        days = [last - dt.timedelta(days=n) for n in reversed(range(3 * video_day + history_days + sizes))]
        first_history = 3 * video_day
        return cls(
            days[0] if video_day else None,
            days[first_history : first_history + history_days],
            days[first_history + history_days :],
        )


def bench_history(url: str, settings: EngineSettings, args, timeline: Timeline, catalog) -> dict:
    rate = load(
        url,
        settings,
        "history",
        catalog(
            seed=args.seed + 1,
            days=args.days,
            events_per_day=args.history_events,
            first_day=timeline.history[0],
        ),
    )
    for day in timeline.history:
        vacuum_day(url, day)
    first = timeline.video_day + dt.timedelta(days=1) if timeline.video_day else timeline.history[0]
    outcome = settle(url, first, timeline.history[-1])
    seconds = [run[2] for run in outcome["runs"] if run[0] >= timeline.history[0]]
    print(
        f"  settled {len(outcome['runs'])} days in {outcome['wall']:.1f} s: " + ", ".join(f"{value:.1f}" for value in seconds),
        flush=True,
    )
    return {"load_rate": rate, "day_seconds": seconds}


def history_trend(day_seconds: list[float]) -> float:
    """Least-squares slope of the days' settle times: seconds added per day of history."""
    n = len(day_seconds)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(day_seconds) / n
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(day_seconds))
    return covariance / sum((x - mean_x) ** 2 for x in range(n))


def print_results(
    args, url: str, size_rows: list[Measured], video_row: Measured | None, history: dict | None, seconds: float
) -> None:
    print(f"\n# Results ({seconds:.0f} s in all)\nmachine: {machine()}\nserver: {server_summary(url)}")
    rows = [*size_rows, *([video_row] if video_row else [])]
    print_table(rows)
    print("\ntargets:")
    for row in size_rows:
        if row.events >= TARGET_RATIO_FROM_EVENTS:
            print(
                verdict(
                    f"pipeline / pair floor at {row.events:,} events", row.ratio, f"<= {TARGET_RATIO}", row.ratio <= TARGET_RATIO
                )
            )
    for row in [*(r for r in size_rows if r.events <= 1_000_000), *([video_row] if video_row else [])]:
        print(
            verdict(
                f"{row.label} ({row.events:,} events, {row.videos:,} videos) pipeline seconds",
                row.pipeline_seconds,
                f"<= {TARGET_SMALL_DAY_SECONDS}",
                row.pipeline_seconds <= TARGET_SMALL_DAY_SECONDS,
            )
        )
    if size_rows:
        largest = size_rows[-1]
        print(
            verdict(f"temporary files at {largest.events:,} events, MB", largest.temp_bytes / 2**20, "0", largest.temp_bytes == 0)
        )
    if history:
        day_seconds = history["day_seconds"]
        first, last = day_seconds[0], day_seconds[-1]
        head, tail = day_seconds[:5], day_seconds[-5:]
        print(
            verdict(
                f"day {len(day_seconds)} / day 1 of history ({first:.1f} s, {last:.1f} s)",
                last / first,
                f"<= {TARGET_HISTORY}",
                last / first <= TARGET_HISTORY,
            )
        )
        slope = history_trend(day_seconds)
        print(
            f"    first 5 days mean {sum(head) / len(head):.2f} s, last 5 mean {sum(tail) / len(tail):.2f} s, "
            f"ratio {sum(tail) / sum(head):.2f}; trend {slope:+.3f} s per day of history "
            f"({slope * (len(day_seconds) - 1) / (sum(day_seconds) / len(day_seconds)):+.0%} over the run); "
            f"{args.history_events:,} events a day, loaded at {history['load_rate']:,.0f} events/s"
        )
    if video_row:
        print(f"    (the original took {ORIGINAL_SECONDS} s for 50,000 records)")
    loads = [row.load_rate for row in rows] + ([history["load_rate"]] if history else [])
    print(verdict("generator load, best events/s", max(loads), f">= {TARGET_LOAD_RATE:,}", max(loads) >= TARGET_LOAD_RATE))
    if size_rows:
        print(
            f"\npair floor plan at {size_rows[-1].events:,} events:\n"
            f"{explain_floor(url, size_rows[-1].day, EngineSettings(database_url=url).time_zone)}"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "server": server_summary(url),
                    "days": [asdict(row) | {"ratio": row.ratio} for row in rows],
                    "history": history,
                },
                default=str,
                indent=2,
            )
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1M,5M,20M", help="events of the measured days, comma separated")
    parser.add_argument("--days", type=int, default=30, help="days of history to settle, day 1 vs the last (0: none)")
    parser.add_argument("--history-events", type=count, default=1_000_000, help="events per history day")
    parser.add_argument("--videos", type=count, default=50_000, help="videos of each generated catalog")
    parser.add_argument("--users", type=count, default=500_000, help="users of each generated catalog")
    parser.add_argument(
        "--video-day-events",
        type=count,
        default=2_000_000,
        help="events of the all-videos day, popularity flattened so most videos play (0: none)",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--database-url", help="use this database as it is (default: a fresh settlement_bench)")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args(argv)
    sizes = [count(size) for size in args.sizes.split(",") if size.strip()]

    url = bench_database(args, EngineSettings())
    migrations.upgrade(url)
    settings = EngineSettings(database_url=url)
    print(f"machine: {machine()}\nserver: {server_summary(url)}\ndatabase: {db.describe(url)}", flush=True)
    timeline = Timeline.ending(clock.yesterday(settings.time_zone), args.video_day_events > 0, args.days, len(sizes))
    started = time.perf_counter()

    def catalog(**day) -> GenerateConfig:
        return GenerateConfig(videos=args.videos, users=args.users, **day)

    video_row = None
    if timeline.video_day:
        rate = load(
            url,
            settings,
            f"{args.videos:,}-video day",
            catalog(
                seed=args.seed,
                days=1,
                events_per_day=args.video_day_events,
                first_day=timeline.video_day,
                popularity_exponent=0.3,
            ),
        )
        video_row = measure_day(url, settings, "videos day", timeline.video_day, args.video_day_events, rate)
    history = bench_history(url, settings, args, timeline, catalog) if timeline.history else None
    size_rows = []
    for n, (events, day) in enumerate(zip(sizes, timeline.sizes)):
        rate = load(
            url,
            settings,
            f"{events:,} events",
            catalog(
                seed=args.seed + 2 + n,
                days=1,
                events_per_day=events,
                first_day=day,
            ),
        )
        size_rows.append(measure_day(url, settings, f"{events / 1e6:g}M", day, events, rate))
    print_results(args, url, size_rows, video_row, history, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
