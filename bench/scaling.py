"""Scaling benchmark (issue 24): how the pipeline's time, and each model's, grows with the day's events, in
several shapes of day, with and without history before it. Prints numbers; flags the models whose time per
event grows as the day shrinks (a fixed cost, or a plan waiting to explode).

    .venv/bin/python bench/scaling.py [--sizes 20k,100k,1M,5M] [--shapes default,few-videos,...]
                                      [--history 0,30] [--history-events 1M] [--json FILE]

Shapes (settlement.generate, each with 500,000 users):
  default       20,000 videos, Zipf popularity, 1 min to 1 h videos
  few-videos    50 videos: every pair of the day on a handful of videos
  50k-videos    50,000 videos, popularity flattened (exponent 0.3) so most of them play
  impressions   20,000 videos of 30 min to 1 h, every slot filled: an ad impression every ~300 s of play
  attack        the default, 10% of the day attack traffic (settlement/generate/attacks.py)

For each shape, size and history (days before the measured one), in a fresh database scaling_<shape>_<size>_h<n>
on the server the app would pick (dropped at the end unless --keep):
  1. one generate call: the shape's catalog, `history` days of min(size, --history-events) events, then the
     measured day (yesterday) of `size` events; one catalog, so the measured day meets the history's viewers;
  2. the fixed-cost day, the day before the first: 100 events of a catalog of its own (10 videos, 20 users,
     no ads), with the shape's catalog already in the tables; settled alone first;
  3. the history settled (when there is one), then the measured day VACUUM (ANALYZE)d (as autovacuum would
     have by then), its pair floor (bench/run.py's: GROUP BY user_id, video_id; best of 3, warm), and the
     day settled: the run's own seconds, the temporary files written meanwhile (pg_stat_database), and each
     node's seconds from dbt's run_results.json of that run.
Each settlement runs in a fresh process whose dbt project is parsed before the clock starts (bench/run.py),
with every statement cancelled after --statement-timeout seconds: a day whose plan would run for hours shows
as TIMEOUT (with the node it stopped in) instead of holding the machine; it is not tried again.

History days carry the measured day's volume (a platform in its steady state), at most --history-events
(1M): what history changes is what the day reads of the days before it (the view window's pairs, lifetime
view positions, the period marts' week and month), and 30 days of 5M events would take hours to load and
settle on two cores for little more of that.

A node is FLAGGED when its seconds per event on a smaller day are more than FLAG_RATIO times its seconds per
event on the largest day of the same shape and history (5M by default). It is marked `fixed` when the
fixed-cost day's seconds explain it: what is left over, per event, is within FLAG_RATIO, or is less than
NOISE_SECONDS in all (a node of constant work, a staging view, took 0.04 to 0.55 s over 40 runs of one
benchmark on this 2-core machine at load average 4-10);
`grows` otherwise: seconds that are neither the node's fixed cost nor in proportion to the day.
"""

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (
    FLOOR_QUERIES,
    FLOOR_SETTINGS,
    day_range,
    load_average,
    machine,
    run_results,
    server_summary,
    settle_once,
    temp_bytes,
    vacuum_day,
)
from settlement import clock, db, migrations, pipeline
from settlement.commands.generate import count
from settlement.config import PROJECT_ROOT, EngineSettings
from settlement.generate import GenerateConfig, generate

SHAPES = {
    "default": GenerateConfig(videos=20_000, users=500_000),
    "few-videos": GenerateConfig(videos=50, users=500_000),
    "50k-videos": GenerateConfig(videos=50_000, users=500_000, popularity_exponent=0.3),
    "impressions": GenerateConfig(videos=20_000, users=500_000, min_video_minutes=30),
    "attack": GenerateConfig(videos=20_000, users=500_000, attack_share=0.1),
}
FIXED_COST_DAY = GenerateConfig(videos=10, users=20, ads=0, days=1, events_per_day=100)
FLAG_RATIO = 3.0
NOISE_SECONDS = 0.5
FLOOR_RUNS = 3


@dataclass
class Measured:
    shape: str
    events: int
    history: int  # days before the measured one
    history_events: int = 0  # events on each of them
    load_rate: float = 0.0  # events/s, the generate call
    pair_floor: float = 0.0
    pipeline_seconds: float = 0.0
    temp_bytes: int = 0
    fixed_seconds: float = 0.0  # the fixed-cost day's run
    history_seconds: list = field(default_factory=list)
    nodes: dict = field(default_factory=dict)  # node -> seconds, the measured day's run
    fixed_nodes: dict = field(default_factory=dict)  # node -> seconds, the fixed-cost day's run
    load_average: str = ""  # before the measured day's run
    load_average_after: str = ""
    status: str = ""  # the measured day's run: SUCCEEDED, FAILED, or TIMEOUT (a statement ran out of time)
    failed_node: str = ""

    @property
    def ratio(self) -> float:
        return self.pipeline_seconds / self.pair_floor if self.pair_floor else float("nan")

    @property
    def label(self) -> str:
        return f"{self.shape} {size_label(self.events)}" + (f" +{self.history}d" if self.history else "")


def size_label(events: int) -> str:
    return f"{events / 1e6:g}M" if events >= 1_000_000 else f"{events / 1e3:g}k"


def node_name(unique_id: str) -> str:
    """A short, stable name: the model's name; a data test's name cut short, with its hash."""
    kind, _, name = unique_id.split(".", 2)
    if kind == "test":
        name, _, digest = name.rpartition(".") if "." in name else (name, "", "")
        return f"test {name[:40]}{'~' + digest[:4] if digest else ''}"
    return name if kind == "model" else f"{kind} {name}"


def node_seconds(database_url: str) -> dict[str, float]:
    """Each node's seconds in the last dbt run against the database (exposures do nothing)."""
    return {
        node_name(r["unique_id"]): r.get("execution_time") or 0.0
        for r in run_results(database_url)
        if not r["unique_id"].startswith("exposure.")
    }


def failed_node(database_url: str) -> str:
    """The node whose error stopped the last dbt run against the database ('' when none did)."""
    return next(
        (node_name(r["unique_id"]) for r in run_results(database_url) if r.get("status") in pipeline.FAILED_NODE_STATUSES), ""
    )


def pair_floor(url: str, day: dt.date, time_zone: str) -> float:
    """bench/run.py's pair floor of the day, best of FLOOR_RUNS on a warm cache."""
    best = float("inf")
    with psycopg.connect(url) as conn:
        conn.execute(FLOOR_SETTINGS)
        for _ in range(FLOOR_RUNS):
            started = time.perf_counter()
            conn.execute(FLOOR_QUERIES["pair"], day_range(day, time_zone)).fetchall()
            best = min(best, time.perf_counter() - started)
    return best


@contextmanager
def statement_timeout(seconds: float):
    """Every statement of a settlement process started meanwhile is cancelled after `seconds` (libpq's
    PGOPTIONS, which the run's sessions inherit): a plan that would run for hours fails its day instead."""
    previous = os.environ.get("PGOPTIONS")
    os.environ["PGOPTIONS"] = f"{previous or ''} -c statement_timeout={int(seconds * 1000)}".strip()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PGOPTIONS", None)
        else:
            os.environ["PGOPTIONS"] = previous


def timed_out(run: tuple) -> bool:
    return run[1] != "SUCCEEDED" and "statement timeout" in (run[3] or "")


def settled(url: str, first: dt.date, last: dt.date | None = None, timeout: float = 600) -> list[tuple]:
    """(day, status, seconds, error) of each day settled, in a fresh process (bench/run.py's settle_once).
    A day that failed is tried once more, as bench/run.py's settle does, unless it ran out of time."""
    last = last or first
    with statement_timeout(timeout):
        runs = settle_once(url, first, last)["runs"]
        failed = [run for run in runs if run[1] != "SUCCEEDED"]
        if failed and not timed_out(failed[0]):
            print(f"  !! settling {failed[0][0]} FAILED after {failed[0][2]:.1f} s, trying again: {failed[0][3]}", flush=True)
            runs = [run for run in runs if run[0] < failed[0][0]] + settle_once(url, failed[0][0], last)["runs"]
    return runs


# ---------------------------------------------------------------------------------------------------
# One measurement


def fresh_database(name: str) -> str:
    server, _ = db.server_url(EngineSettings())
    db.drop_database(server, name)
    db.create_database_if_missing(server, name)
    url = db.with_database(server, name)
    migrations.upgrade(url)
    return url


def drop_database(url: str) -> None:
    """The database, and dbt's target directory of it."""
    server, _ = db.server_url(EngineSettings())
    name = conninfo_to_dict(url)["dbname"]
    db.drop_database(server, name)
    shutil.rmtree(PROJECT_ROOT / "target" / name, ignore_errors=True)


def measure(shape: str, events: int, history: int, args) -> Measured:
    name = f"scaling_{shape.replace('-', '_')}_{size_label(events).lower().replace('.', '_')}_h{history}"
    url = fresh_database(name)
    settings = EngineSettings(database_url=url)
    day = clock.yesterday(settings.time_zone)
    first = day - dt.timedelta(days=history)
    history_events = min(events, args.history_events) if history else 0
    measured = Measured(shape, events, history, history_events)
    try:
        print(f"\n== {measured.label}: {name}", flush=True)
        config = replace(SHAPES[shape], seed=args.seed, first_day=first, daily_events=(history_events,) * history + (events,))
        report = generate(url, config, progress=False, settings=settings)
        measured.load_rate = report.events_per_second
        print(
            f"  generated {report.rows} in {report.seconds:.1f} s ({report.events_per_second:,.0f} events/s); "
            f"load average {load_average()}",
            flush=True,
        )
        fixed_day = first - dt.timedelta(days=1)
        generate(url, replace(FIXED_COST_DAY, seed=args.seed, first_day=fixed_day), progress=False, settings=settings)
        [(_, status, measured.fixed_seconds, error)] = settled(url, fixed_day, timeout=args.statement_timeout)
        if status != "SUCCEEDED":
            raise RuntimeError(f"the fixed-cost day {fixed_day} failed: {error}")
        measured.fixed_nodes = node_seconds(url)
        print(f"  fixed-cost day (100 events) {fixed_day}: {status} in {measured.fixed_seconds:.2f} s", flush=True)
        if history:
            for past in range(history):
                vacuum_day(url, first + dt.timedelta(days=past))
            runs = settled(url, first, day - dt.timedelta(days=1), timeout=args.statement_timeout)
            measured.history_seconds = [seconds for run_day, _, seconds, _ in runs if run_day >= first]
            print(
                f"  history: {history} days of {history_events:,} events settled, "
                f"{', '.join(f'{s:.1f}' for s in measured.history_seconds)} s",
                flush=True,
            )
            if any(run[1] != "SUCCEEDED" for run in runs):
                raise RuntimeError(f"settling the history failed: {runs[-1]}")
        vacuum_day(url, day)
        measured.pair_floor = pair_floor(url, day, settings.time_zone)
        spilled_before = temp_bytes(url)
        measured.load_average = load_average()
        [run] = [run for run in settled(url, day, timeout=args.statement_timeout) if run[0] == day]
        _, status, measured.pipeline_seconds, error = run
        measured.status = "TIMEOUT" if timed_out(run) else status
        measured.load_average_after = load_average()
        time.sleep(1)  # the run's backends report their statistics to pg_stat_database
        measured.temp_bytes = temp_bytes(url) - spilled_before
        measured.nodes = node_seconds(url)
        measured.failed_node = failed_node(url)
        print(
            f"  {measured.label}: {measured.status}{' in ' + measured.failed_node if measured.failed_node else ''} "
            f"pipeline {measured.pipeline_seconds:.2f} s, pair floor {measured.pair_floor:.3f} s "
            f"({measured.ratio:.1f}x), temp files {measured.temp_bytes / 2**20:.0f} MB, fixed cost {measured.fixed_seconds:.2f} s; "
            f"load average {measured.load_average} -> {measured.load_average_after}",
            flush=True,
        )
    finally:
        if not args.keep:
            drop_database(url)
    return measured


# ---------------------------------------------------------------------------------------------------
# Reading the measurements


def per_million(seconds: float, events: int) -> float:
    return seconds / events * 1e6


def flags(rows: list[Measured]) -> list[tuple[Measured, Measured, str, float, str]]:
    """(small row, largest row, node, ratio, fixed|grows) for every node whose seconds per event on a
    smaller day of the same shape and history exceed FLAG_RATIO times those of the largest day."""
    found = []
    groups = {}
    for row in rows:
        if row.status == "SUCCEEDED":  # a run that stopped part of the way has no time for the nodes after
            groups.setdefault((row.shape, row.history), []).append(row)
    for group in groups.values():
        largest = max(group, key=lambda row: row.events)
        for small in (row for row in group if row.events < largest.events):
            for node, seconds in small.nodes.items():
                at_largest = per_million(largest.nodes.get(node, 0.0), largest.events)
                here = per_million(seconds, small.events)
                if at_largest > 0 and here > FLAG_RATIO * at_largest:
                    left_over = max(seconds - small.fixed_nodes.get(node, 0.0), 0.0)
                    explained = left_over < NOISE_SECONDS or per_million(left_over, small.events) <= FLAG_RATIO * at_largest
                    found.append((small, largest, node, here / at_largest, "fixed" if explained else "grows"))
    return found


def print_summary(rows: list[Measured]) -> None:
    print(
        "\n| shape | events | history | pipeline s | pair floor s | pipeline / pair | temp files MB | fixed-cost day s "
        "| (pipeline - fixed) s per M events | load events/s | load average (1, 5, 15 min) |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        history = f"{row.history} d x {size_label(row.history_events)}" if row.history else "none"
        marginal = per_million(max(row.pipeline_seconds - row.fixed_seconds, 0.0), row.events)
        pipeline = (
            f"{row.pipeline_seconds:.2f}"
            if row.status == "SUCCEEDED"
            else (f"{row.status} after {row.pipeline_seconds:.0f} ({row.failed_node})")
        )
        more = "" if row.status == "SUCCEEDED" else ">"
        print(
            f"| {row.shape} | {row.events:,} | {history} | {pipeline} | {row.pair_floor:.3f} | {more}{row.ratio:.1f} "
            f"| {row.temp_bytes / 2**20:.0f} | {row.fixed_seconds:.2f} | {more}{marginal:.2f} | {row.load_rate:,.0f} "
            f"| {row.load_average} |"
        )


def print_nodes(rows: list[Measured], top: int | None) -> None:
    """Per shape and history: each node's seconds per million events at each size, its seconds on the
    fixed-cost day, and the flags (against the largest day that settled)."""
    flagged = {(small.label, node): (ratio, kind) for small, _, node, ratio, kind in flags(rows)}
    groups = {}
    for row in rows:
        groups.setdefault((row.shape, row.history), []).append(row)
    for (shape, history), group in groups.items():
        group = sorted(group, key=lambda row: row.events)
        settled_rows = [row for row in group if row.status == "SUCCEEDED"] or group
        largest = settled_rows[-1]
        print(
            f"\n{shape}, history {history} d: seconds per million events (the day's run), flags against "
            f"{size_label(largest.events)}; fixed = seconds on the fixed-cost day"
        )
        print(
            "| node | "
            + " | ".join(size_label(row.events) + ("" if row.status == "SUCCEEDED" else f" ({row.status})") for row in group)
            + " | fixed s | flagged |"
        )
        print("|---|" + "---:|" * len(group) + "---:|---|")
        names = sorted(largest.nodes, key=lambda node: -largest.nodes[node])
        for node in names[:top] if top else names:
            cells = " | ".join(node_cell(row, node) for row in group)
            marks = ", ".join(
                f"{size_label(row.events)} {flagged[(row.label, node)][0]:.0f}x {flagged[(row.label, node)][1]}"
                for row in group
                if (row.label, node) in flagged
            )
            print(f"| {node} | {cells} | {group[0].fixed_nodes.get(node, 0.0):.2f} | {marks} |")


def node_cell(row: Measured, node: str) -> str:
    """A node's seconds per million events on the row's day; for a day that stopped, its seconds, or -
    where it never ran."""
    seconds = row.nodes.get(node, 0.0)
    if row.status == "SUCCEEDED":
        return f"{per_million(seconds, row.events):.3f}"
    return f"{seconds:.1f} s{' (stopped)' if node == row.failed_node else ''}" if seconds else "-"


def print_flags(rows: list[Measured]) -> None:
    found = flags(rows)
    print(
        f"\nFLAGGED: {len(found)} (node, day) with seconds per event > {FLAG_RATIO:g}x the largest day's; "
        f"{sum(kind == 'grows' for *_, kind in found)} not explained by the fixed-cost day ('grows'):"
    )
    for small, largest, node, ratio, kind in sorted(found, key=lambda item: (item[4] != "grows", -item[3])):
        if kind == "grows":
            print(
                f"  FLAG grows  {small.label:<24} {node:<52} {ratio:6.1f}x  ({small.nodes[node]:.2f} s at "
                f"{small.events:,}, fixed day {small.fixed_nodes.get(node, 0.0):.2f} s, {largest.nodes[node]:.2f} s at "
                f"{largest.events:,})"
            )
    fixed = {}
    for small, _, node, _, kind in found:
        if kind == "fixed":
            fixed.setdefault(small.label, []).append(node)
    for label, nodes in fixed.items():
        print(f"  FLAG fixed  {label:<24} {len(nodes)} nodes, explained by the fixed-cost day")


def print_report(rows: list[Measured], top: int | None) -> None:
    print_summary(rows)
    print_nodes(rows, top)
    print_flags(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20k,100k,1M,5M", help="events of the measured days, comma separated")
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"comma separated, of: {', '.join(SHAPES)}")
    parser.add_argument("--history", default="0", help="days of history before the measured day, comma separated (e.g. 0,30)")
    parser.add_argument(
        "--history-events",
        type=count,
        default=1_000_000,
        help="events per history day at most (the measured day's, when smaller)",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--top", type=int, default=None, help="print only the slowest nodes of each shape's table")
    parser.add_argument("--keep", action="store_true", help="keep the databases (default: drop each when measured)")
    parser.add_argument(
        "--statement-timeout",
        type=float,
        default=600,
        help="seconds after which a statement of a settlement run is cancelled (its day then fails as TIMEOUT)",
    )
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    parser.add_argument("--report", type=Path, help="measure nothing: print the report of a --json file again")
    args = parser.parse_args(argv)
    if args.report:
        saved = json.loads(args.report.read_text())
        print(f"machine: {saved['machine']}\nserver: {saved['server']}\nstarted {saved['started']}")
        print_report([Measured(**{name: row[name] for name in Measured.__dataclass_fields__}) for row in saved["rows"]], args.top)
        return 0
    sizes = sorted(count(size) for size in args.sizes.split(",") if size.strip())
    shapes = [shape.strip() for shape in args.shapes.split(",") if shape.strip()]
    unknown = [shape for shape in shapes if shape not in SHAPES]
    if unknown:
        parser.error(f"unknown shapes {unknown}; there are {', '.join(SHAPES)}")
    histories = [int(days) for days in args.history.split(",")]

    server, _ = db.server_url(EngineSettings())
    started, begun = time.perf_counter(), dt.datetime.now(dt.UTC)
    print(
        f"machine: {machine()}\nserver: {server_summary(server)}\nstarted {begun:%Y-%m-%d %H:%M} UTC, "
        f"load average {load_average()}",
        flush=True,
    )
    rows = [measure(shape, events, history, args) for shape in shapes for history in histories for events in sizes]
    print(
        f"\n# Results: bench/scaling.py --sizes {args.sizes} --shapes {args.shapes} --history {args.history}, "
        f"{begun:%Y-%m-%d %H:%M}-{dt.datetime.now(dt.UTC):%H:%M} UTC ({time.perf_counter() - started:.0f} s), "
        f"load average now {load_average()}"
    )
    print_report(rows, args.top)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "server": server_summary(server),
                    "started": str(begun),
                    "rows": [asdict(row) | {"ratio": row.ratio} for row in rows],
                },
                indent=2,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
