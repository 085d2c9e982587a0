"""dbt's native `microbatch` incremental strategy against the engine's `day_partition` materialization,
for a day-grain model (fct_video_daily), on the same generated days. Prints numbers; not a test.

    .venv/bin/python bench/microbatch.py [--days 3] [--events-per-day 1M] [--runs 3] [--database-url URL]

Without --database-url it drops and recreates `settlement_bench_microbatch` on the server the app would
pick, generates --days platform days (ending yesterday) with `settlement generate` and settles them with
`settlement run`, so the engine's own tables (and fct_video_daily's day partitions) exist.

The dbt project is copied to a temporary folder (the repository's models are left alone) and changed
there only:
  * `fct_video_daily_microbatch`: fct_video_daily's SELECT as it is, the run date taken from the batch
    (model.batch.event_time_start), materialized='incremental', incremental_strategy='microbatch',
    event_time='settled_on', batch_size='day', unique_key=[settled_on, video_id] (dbt-postgres does a
    microbatch as a MERGE on the unique key and refuses one without), a unique index on the key and
    fct_video_daily's own index;
  * event_time='settled_on' on its day-grain upstreams (int_video_lifetime_daily, int_video_pricing_daily,
    fct_video_ad_daily), so dbt filters each ref to the batch's day (stg_platform__videos is read whole,
    as fct_video_daily reads it);
  * is_settlement_run() is false: no lease, no on-run-end publish, and a published day_partition model
    swaps its day in at once (its path outside a settlement run). Both sides read the same published
    upstream tables; both run with work_mem=256MB and enable_nestloop=off (what the marts set).

Each measurement is one in-process dbt invocation (dbtRunner on a manifest parsed beforehand, so no CLI
start-up or parse is timed), measured --runs times, interleaved (a, b, c, ... then again) so that both
sides see the same load on a shared machine; best and median are printed, with the load average.
  fresh day   the day's partition dropped / the day's rows deleted (and vacuumed) first, not timed
  re-run      the day is there already: what a second settlement of the day costs
  N days      every generated day: day_partition one invocation per day (as the engine settles),
              microbatch one invocation with --event-time-start/--event-time-end over them
Then the checks: both give the same rows for each day; a re-run neither duplicates nor loses rows; and a
row the rebuilt day no longer has (planted) is dropped by day_partition and kept by microbatch's MERGE.
"""

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import yaml
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from settlement import db, migrations, warehouse
from settlement.clock import yesterday
from settlement.commands.generate import count
from settlement.config import PROJECT_ROOT, EngineSettings
from settlement.pipeline import dbt_environment, dbt_vars

BENCH_DATABASE = "settlement_bench_microbatch"
MODEL = "fct_video_daily"
MICROBATCH_MODEL = "fct_video_daily_microbatch"
# day-grain upstreams of fct_video_daily, by folder of dbt_project.yml: given event_time in the copy
UPSTREAMS = {"intermediate": ["int_video_lifetime_daily", "int_video_pricing_daily"], "marts": ["fct_video_ad_daily"]}
PROJECT_FILES = ["dbt_project.yml", "profiles.yml", "selectors.yml", "packages.yml"]
PROJECT_FOLDERS = ["models", "macros", "seeds", "data_tests", "analyses", "snapshots"]
SESSION_OPTIONS = "-c work_mem=256MB -c enable_nestloop=off"

BATCH_DAY_MACRO = """
{#- bench/microbatch.py: the day of the batch being built, else the run date. -#}
{% macro batch_day() -%}
    {%- if model.batch -%}
        '{{ (model.batch.event_time_start | string)[:10] }}'::date
    {%- else -%}
        {{ run_date() }}
    {%- endif -%}
{%- endmacro %}
"""


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"load average: {load_average()}"


# ---------------------------------------------------------------------------------------------------
# The data


def bench_database(args) -> str:
    if args.database_url:
        return args.database_url
    server, _ = db.server_url(EngineSettings())
    db.drop_database(server, BENCH_DATABASE)
    db.create_database_if_missing(server, BENCH_DATABASE)
    return db.with_database(server, BENCH_DATABASE)


def settlement_cli(url: str, *args: str) -> None:
    """The project's own command line (settlement generate / run) against url."""
    command = [str(PROJECT_ROOT / ".venv" / "bin" / "settlement"), *args]
    started = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "DATABASE_URL": url}, cwd=PROJECT_ROOT)
    print(f"  {' '.join(command[1:])}: {time.perf_counter() - started:.1f} s", flush=True)


def prepare_data(url: str, args, days: list[dt.date]) -> None:
    migrations.upgrade(url)
    settlement_cli(url, "generate", "--quiet", "--days", str(len(days)), "--events-per-day", str(args.events_per_day),
                   "--videos", str(args.videos), "--users", str(args.users), "--seed", str(args.seed),
                   "--first-day", days[0].isoformat())  # fmt: skip
    settlement_cli(url, "run", "--from", days[0].isoformat(), "--to", days[-1].isoformat())


# ---------------------------------------------------------------------------------------------------
# The throw-away dbt project


def project_copy(begin: dt.date) -> Path:
    root = Path(tempfile.mkdtemp(prefix="bench_microbatch_"))
    for name in PROJECT_FILES:
        if (PROJECT_ROOT / name).exists():
            shutil.copy2(PROJECT_ROOT / name, root / name)
    for name in PROJECT_FOLDERS:
        if (PROJECT_ROOT / name).is_dir():
            shutil.copytree(PROJECT_ROOT / name, root / name)

    # outside a settlement run: no lease, no publish; a published day model swaps its day in at once
    lifecycle = root / "macros" / "pipeline" / "run_lifecycle.sql"
    settlement_run = "{{ return(execute and flags.WHICH in ('build', 'run')) }}"
    text = lifecycle.read_text()
    if settlement_run not in text:
        raise SystemExit(f"{lifecycle.relative_to(root)} no longer has {settlement_run!r}: update bench/microbatch.py")
    lifecycle.write_text(text.replace(settlement_run, "{{ return(false) }}"))
    (root / "macros" / "bench_microbatch.sql").write_text(BATCH_DAY_MACRO)

    # event_time on the upstreams, so that dbt filters each ref to the batch
    project_file = root / "dbt_project.yml"
    project = yaml.safe_load(project_file.read_text())
    models = project["models"]["settlement"]
    for folder, names in UPSTREAMS.items():
        for name in names:
            models.setdefault(folder, {}).setdefault(name, {})["+event_time"] = "settled_on"
    project_file.write_text(yaml.safe_dump(project, sort_keys=False))

    # the microbatch model: fct_video_daily's SELECT, the batch's day for the run date
    source = (root / "models" / "marts" / f"{MODEL}.sql").read_text()
    config_line, body = source.split("\n", 1)
    if not config_line.startswith("{{ config(materialized='day_partition'"):
        raise SystemExit(f"{MODEL}.sql's first line is not its day_partition config: update bench/microbatch.py")
    body = body.replace("{{ run_date() }}", "{{ batch_day() }}")
    # outside a settlement run staged() is the ref itself; the plain ref keeps dbt's event-time filter
    body = body.replace("{{ staged(ref('fct_video_ad_daily')) }}", "{{ ref('fct_video_ad_daily') }}")
    config = (
        "{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='settled_on',\n"
        f"          batch_size='day', begin='{begin.isoformat()}', lookback=0,\n"
        "          unique_key=['settled_on', 'video_id'],\n"
        "          indexes=[{'columns': ['settled_on', 'video_id'], 'unique': true},\n"
        "                   {'columns': ['seller_id', 'settled_on']}]) }}\n"
    )
    (root / "models" / "marts" / f"{MICROBATCH_MODEL}.sql").write_text(config + body)
    return root


class Dbt:
    """dbt in-process on the copy, with one parse for every invocation."""

    def __init__(self, project: Path, url: str, variables: dict):
        os.environ.update(dbt_environment(url))
        os.environ["PGOPTIONS"] = f"{os.environ['PGOPTIONS']} {SESSION_OPTIONS}"
        self.project, self.variables = project, variables
        self.manifest = None
        result = self.invoke(["parse"])
        if not result.success:
            raise SystemExit(f"the copied dbt project does not parse: {result.exception}")
        self.manifest = result.result

    def invoke(self, args: list[str], run_date: dt.date | None = None):
        from dbt.cli.main import dbtRunner

        variables = dict(self.variables, **({"run_date": run_date.isoformat()} if run_date else {}))
        common = ["--project-dir", str(self.project), "--profiles-dir", str(self.project),
                  "--target-path", str(self.project / "target"), "--log-path", str(self.project / "logs"),
                  "--vars", json.dumps(variables)]  # fmt: skip
        return dbtRunner(manifest=self.manifest).invoke(["--log-level", "warn", *args, *common])

    def run(self, args: list[str], run_date: dt.date | None = None) -> tuple[float, float]:
        """Wall seconds of the invocation, and the seconds dbt gives the model's node."""
        started = time.perf_counter()
        result = self.invoke(["run", *args], run_date)
        wall = time.perf_counter() - started
        if not result.success:
            problems = [
                f"{r.node.name}: {r.message}"
                for r in (getattr(result.result, "results", None) or [])
                if str(r.status) != "success"
            ]
            raise SystemExit(f"dbt run {' '.join(args)} failed: {problems or result.exception}")
        return wall, sum(r.execution_time for r in result.result.results)

    def day_partition(self, day: dt.date) -> tuple[float, float]:
        return self.run(["-s", MODEL], day)

    def microbatch(self, first: dt.date, last: dt.date) -> tuple[float, float]:
        return self.run(
            [
                "-s",
                MICROBATCH_MODEL,
                "--event-time-start",
                first.isoformat(),
                "--event-time-end",
                (last + dt.timedelta(days=1)).isoformat(),
            ],
            last,
        )


# ---------------------------------------------------------------------------------------------------
# The tables


class Tables:
    def __init__(self, url: str):
        self.conn = psycopg.connect(url, autocommit=True)
        self.schema = self.conn.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = %s", [MODEL]
        ).fetchone()[0]

    def relation(self, name: str) -> sql.Composed:
        return sql.Identifier(self.schema, name)

    def forget_partitions(self, days: list[dt.date]) -> None:
        """The days' partitions of the day_partition model dropped (not timed): a first build of the days."""
        for day in days:
            self.conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self.relation(warehouse.day_table(MODEL, day))))

    def forget_microbatch_days(self, days: list[dt.date]) -> None:
        """The days' rows of the microbatch model deleted and vacuumed away (not timed)."""
        if self.exists(MICROBATCH_MODEL):
            self.conn.execute(
                sql.SQL("DELETE FROM {} WHERE settled_on = ANY(%s)").format(self.relation(MICROBATCH_MODEL)), [days]
            )
            self.conn.execute(sql.SQL("VACUUM ANALYZE {}").format(self.relation(MICROBATCH_MODEL)))

    def exists(self, name: str) -> bool:
        return self.conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{self.schema}.{name}"]).fetchone()[0]

    def rows(self, name: str, day: dt.date) -> tuple[int, int]:
        """Rows of the day, and how many (settled_on, video_id) keys appear more than once."""
        return self.conn.execute(
            sql.SQL("""SELECT count(*), count(*) - count(DISTINCT video_id) FROM {} WHERE settled_on = %s""").format(
                self.relation(name)
            ),
            [day],
        ).fetchone()

    def differing_rows(self, day: dt.date) -> int:
        """Rows of the day in one table and not the other (both ways)."""
        columns = [
            row[0]
            for row in self.conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                [self.schema, MODEL],
            )
        ]
        select = sql.SQL("SELECT {} FROM {} WHERE settled_on = %(day)s").format
        fields = sql.SQL(", ").join(map(sql.Identifier, columns))
        a, b = select(fields, self.relation(MODEL)), select(fields, self.relation(MICROBATCH_MODEL))
        query = sql.SQL("SELECT (SELECT count(*) FROM ({} EXCEPT ALL {}) x) + (SELECT count(*) FROM ({} EXCEPT ALL {}) y)")
        return self.conn.execute(query.format(a, b, b, a), {"day": day}).fetchone()[0]

    def plant_stale_row(self, name: str, day: dt.date) -> None:
        """A row the day's rebuild will not have: video -1, a copy of one of the day's rows otherwise."""
        columns = [
            row[0]
            for row in self.conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                [self.schema, name],
            )
        ]
        values = [sql.SQL("-1") if column == "video_id" else sql.Identifier(column) for column in columns]
        self.conn.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} WHERE settled_on = %s LIMIT 1").format(
                self.relation(name),
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join(values),
                self.relation(name),
            ),
            [day],
        )

    def stale_rows(self, name: str, day: dt.date) -> int:
        return self.conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE settled_on = %s AND video_id = -1").format(self.relation(name)), [day]
        ).fetchone()[0]


# ---------------------------------------------------------------------------------------------------
# Measuring


def measure(dbt: Dbt, tables: Tables, days: list[dt.date], runs: int) -> tuple[dict, list[str]]:
    day = days[-1]
    cases = {
        "fresh day: day_partition": (lambda: tables.forget_partitions([day]), lambda: dbt.day_partition(day)),
        "fresh day: microbatch": (lambda: tables.forget_microbatch_days([day]), lambda: dbt.microbatch(day, day)),
        "re-run day: day_partition": (None, lambda: dbt.day_partition(day)),
        "re-run day: microbatch": (None, lambda: dbt.microbatch(day, day)),
    }
    if len(days) > 1:

        def every_day_partition():
            walls, nodes = zip(*(dbt.day_partition(d) for d in days))
            return sum(walls), sum(nodes)

        cases[f"{len(days)} fresh days: day_partition"] = (lambda: tables.forget_partitions(days), every_day_partition)
        cases[f"{len(days)} fresh days: microbatch"] = (
            lambda: tables.forget_microbatch_days(days),
            lambda: dbt.microbatch(days[0], days[-1]),
        )
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    loads = []
    for attempt in range(runs):
        loads.append(load_average())
        for name, (prepare, build) in cases.items():
            if prepare:
                prepare()
            timings[name].append(build())
            print(f"  run {attempt + 1}/{runs} {name}: {timings[name][-1][0]:.2f} s", flush=True)
    return timings, loads


def check(dbt: Dbt, tables: Tables, days: list[dt.date]) -> list[str]:
    lines = []
    for day in days:
        lines.append(
            f"{day}: rows day_partition {tables.rows(MODEL, day)[0]:,}, microbatch "
            f"{tables.rows(MICROBATCH_MODEL, day)[0]:,}, rows in one and not the other: "
            f"{tables.differing_rows(day)}"
        )
    day = days[-1]
    before = {name: tables.rows(name, day) for name in (MODEL, MICROBATCH_MODEL)}
    dbt.day_partition(day)
    dbt.microbatch(day, day)
    for name in (MODEL, MICROBATCH_MODEL):
        (rows_before, _), (rows_after, duplicates) = before[name], tables.rows(name, day)
        lines.append(f"re-run of {day}, {name}: {rows_before:,} rows before, {rows_after:,} after, {duplicates} duplicate keys")
    for name in (MODEL, MICROBATCH_MODEL):
        tables.plant_stale_row(name, day)
    dbt.day_partition(day)
    dbt.microbatch(day, day)
    for name in (MODEL, MICROBATCH_MODEL):
        left = tables.stale_rows(name, day)
        lines.append(
            f"a row the rebuilt day does not have, {name}: "
            + ("kept (the day is not replaced, only upserted)" if left else "gone (the day is replaced)")
        )
    return lines


def print_table(timings: dict, loads: list[str]) -> None:
    print(f"\n{'measurement':<32}{'best s':>8}{'median s':>10}{'node best':>11}   runs (wall s)")
    for name, runs in timings.items():
        walls = [wall for wall, _ in runs]
        nodes = [node for _, node in runs]
        print(
            f"{name:<32}{min(walls):>8.2f}{statistics.median(walls):>10.2f}{min(nodes):>11.2f}   "
            + ", ".join(f"{wall:.2f}" for wall in walls)
        )
    print(f"load average (1, 5, 15 min) at the start of each round: {' | '.join(loads)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=3, help="generated and settled platform days, ending yesterday")
    parser.add_argument("--events-per-day", type=count, default=1_000_000)
    parser.add_argument("--videos", type=count, default=20_000)
    parser.add_argument("--users", type=count, default=200_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=3, help="times each measurement is taken")
    parser.add_argument("--keep-project", action="store_true", help="leave the copied dbt project (its path is printed)")
    parser.add_argument("--database-url", help="use this database as it is, already settled (default: a fresh one)")
    args = parser.parse_args(argv)

    settings = EngineSettings()
    print(uptime(), flush=True)
    url = bench_database(args)
    print(f"database: {db.describe(url)}", flush=True)
    if args.database_url:
        with psycopg.connect(url) as conn:
            days = [row[0] for row in conn.execute("SELECT day FROM settled_days ORDER BY day DESC LIMIT %s", [args.days])][::-1]
    else:
        last = yesterday(settings.time_zone)
        days = [last - dt.timedelta(days=back) for back in range(args.days - 1, -1, -1)]
        prepare_data(url, args, days)

    project = project_copy(days[0])
    try:
        dbt = Dbt(project, url, dbt_vars(settings, None))
        tables = Tables(url)
        started = time.perf_counter()
        dbt.microbatch(days[0], days[-1])  # the microbatch table's first build, not timed
        print(f"  microbatch table built for {days[0]} .. {days[-1]}: {time.perf_counter() - started:.1f} s", flush=True)
        for day in days:
            dbt.day_partition(day)  # the same state for both sides, whatever an earlier run left
            tables.conn.execute(sql.SQL("VACUUM ANALYZE {}").format(tables.relation(warehouse.day_table(MODEL, day))))
        timings, loads = measure(dbt, tables, days, args.runs)
        checks = check(dbt, tables, days)
    finally:
        if args.keep_project:
            print(f"the copied dbt project: {project}")
        else:
            shutil.rmtree(project, ignore_errors=True)

    generated = "" if args.database_url else f" ({args.events_per_day:,} events a day, {args.videos:,} videos)"
    print(
        f"\nfct_video_daily for {days[-1]}{generated}, best and median of {args.runs}, one in-process dbt "
        "invocation each (wall s; 'node' is dbt's own time of the model)"
    )
    print_table(timings, loads)
    print(uptime())
    print("\n" + "\n".join(checks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
