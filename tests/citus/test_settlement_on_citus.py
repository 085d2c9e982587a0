"""The engine on Citus: the end-to-end scenario (tests/engine/test_settlement_e2e.py: every quarantine
reason, the view window across days, ad slots) written through the platform's own recording functions
to a single-node PostgreSQL database and to the local Citus cluster (a coordinator and two workers)
alike, settled on both, a day closed, late events for it, the days settled again (adjustments), and
every table the engine builds compared row for row after each step. The pair pass's plan shows it runs
on the workers.

One module-scoped scenario, compared table by table, not every engine test again: the engine's own
tests check the results against SPEC.md on one node; these check that the cluster gives the same.
"""

import datetime as dt
import json
import time

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from settlement import closing, migrations, pipeline
from settlement.config import PROJECT_ROOT, EngineSettings
from tests.conftest import SOURCE_TABLES
from tests.engine.scenario import Platform, at, reference_settlement
from tests.engine.test_settlement_e2e import DAY, D, build_platform

pytestmark = pytest.mark.citus

EXPLAIN_OUTPUT = PROJECT_ROOT / ".data" / "citus" / "pair_pass_explain.txt"

# Columns that record when something happened on each database, not what was settled.
CLOCK_COLUMNS = {"closed_days": {"closed_at"}, "settled_days": {"run_id", "run_started_at", "settled_at"}}
# Engine tables outside the analytics schema, and what they hold.
PUBLIC_TABLES = ("settled_days", "closed_days", "closed_video_payouts", "closed_video_ad_payouts", "closed_payout_adjustments")


class Twin:
    """A connection for tests.engine.scenario.Platform that sends every statement, with the same
    parameters, to both databases (fresh ones: identities come out the same on both). It returns the
    first database's cursor."""

    def __init__(self, *conns: psycopg.Connection):
        self.conns = conns

    def execute(self, query, params=None):
        cursors = [conn.execute(query, params) for conn in self.conns]
        return cursors[0]


def engine_tables(conn: psycopg.Connection) -> list[str]:
    """Every table and view the engine builds (analytics; not the staging views, which show the source
    tables as they are) and its state and frozen days (public)."""
    built = [
        f"analytics.{name}"
        for (name,) in conn.execute(
            """SELECT c.relname FROM pg_class c
               WHERE c.relnamespace = 'analytics'::regnamespace AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
                 AND c.relname NOT LIKE 'stg\\_%'
               ORDER BY 1"""
        )
    ]
    return built + [f"public.{name}" for name in PUBLIC_TABLES]


def canonical(value):
    """A value as text that does not depend on the order of an aggregate nobody ordered (jsonb arrays)."""
    if isinstance(value, list):
        return sorted(canonical(item) for item in value)
    if isinstance(value, dict):
        return json.dumps({key: canonical(item) for key, item in value.items()}, sort_keys=True, default=str)
    return repr(value)


def snapshot(conn: psycopg.Connection, tables: list[str]) -> dict[str, list]:
    dump = {}
    for table in tables:
        cursor = conn.execute(f"SELECT * FROM {table}")
        names = [column.name for column in cursor.description]
        skip = CLOCK_COLUMNS.get(table.split(".")[1], set())
        dump[table] = sorted(
            repr([canonical(value) for name, value in zip(names, row) if name not in skip]) for row in cursor.fetchall()
        )
    return dump


def assert_same_tables(single: psycopg.Connection, citus: psycopg.Connection) -> None:
    tables = engine_tables(single)
    assert engine_tables(citus) == tables
    expected, actual = snapshot(single, tables), snapshot(citus, tables)
    for table in tables:
        assert actual[table] == expected[table], f"{table} differs on Citus"
    assert sum(len(rows) for rows in expected.values()) > 500  # the comparison compared something


def settle(settings: EngineSettings, day: dt.date) -> list[pipeline.RunResult]:
    results = pipeline.run_days(settings, day)
    assert all(result.succeeded for result in results), [(r.run_date, r.error) for r in results]
    return results


@pytest.fixture(scope="module")
def databases(fresh_database, citus_url):
    """(single-node URL, Citus coordinator URL), both migrated; the events distributed on Citus."""
    single_url = fresh_database("citus_twin")
    started = time.monotonic()
    migrations.upgrade(single_url)
    migrations.upgrade(citus_url)
    print(f"migrated both in {time.monotonic() - started:.1f} s")
    return single_url, citus_url


@pytest.fixture(scope="module")
def connections(databases):
    single_url, citus_url = databases
    with psycopg.connect(single_url, autocommit=True) as single, psycopg.connect(citus_url, autocommit=True) as citus:
        yield single, citus


@pytest.fixture(scope="module")
def settled(databases, connections):
    """The scenario written to both, settled through D+1 on both (D-3 .. D+1: five runs each)."""
    single, citus = connections
    p, v = build_platform(Twin(single, citus))
    timings = {}
    for name, url in zip(("single", "citus"), databases):
        started = time.monotonic()
        settings = EngineSettings(_env_file=None, database_url=url)
        results = settle(settings, D) + settle(settings, D + DAY)
        timings[name] = time.monotonic() - started
        assert [r.run_date for r in results] == [D - 3 * DAY + n * DAY for n in range(5)]
    print(f"settled 5 days: single node {timings['single']:.1f} s, Citus {timings['citus']:.1f} s")
    return p, v


def test_the_event_tables_are_distributed_and_colocated(settled, connections):
    _, citus = connections
    colocated = {
        name
        for (name,) in citus.execute(
            """SELECT logicalrelid::text FROM pg_dist_partition
               WHERE colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'watch_events'::regclass)
                 AND NOT (SELECT relispartition FROM pg_class WHERE oid = logicalrelid)"""
        )
    }
    # one colocation group: a viewer's events, keys and per-viewer model rows share a shard
    # (other tests' tables of this session's database may share the default group: same shard count and type)
    engine = {name for name in colocated if name.startswith("analytics.") or name in SOURCE_TABLES}
    assert engine == {"watch_events", "ad_impressions", "watch_event_ids", "ad_impression_ids",
                      "analytics.int_pair_daily_shard_0", "analytics.int_pair_daily_shard_1",
                      "analytics.int_watch_events_turned_down", "analytics.int_ad_impressions_daily"}  # fmt: skip
    published = citus.execute(
        "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'analytics.fct\\_%' OR logicalrelid::text LIKE 'analytics.rpt\\_%'"
    ).fetchone()[0]
    assert published == 0  # the per-video and per-seller marts stay on the coordinator
    workers = {
        port
        for (port,) in citus.execute("SELECT DISTINCT nodeport FROM citus_shards WHERE table_name = 'watch_events'::regclass")
    }
    assert len(workers) == 2
    # the events' rows are on the workers, none left in the coordinator's shells
    assert citus.execute("SELECT count(*) FROM watch_events").fetchone()[0] > 100_000
    local_bytes = citus.execute(
        "SELECT sum(pg_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'watch_events'::regclass"
    ).fetchone()[0]
    assert local_bytes == 0


def test_every_table_equals_single_node(settled, connections):
    single, citus = connections
    assert_same_tables(single, citus)
    # and the payouts are the ones SPEC.md gives (tests/engine/scenario.py's reference)
    p, _ = settled
    expected, _ = reference_settlement(p, [D - 3 * DAY + n * DAY for n in range(5)])
    payouts = {
        (day, video): payout
        for day, video, payout in citus.execute("SELECT settled_on, video_id, payout FROM analytics.fct_video_daily")
    }
    assert payouts == {key: row["payout"] for key, row in expected.items()}


def worker_tasks(plan: str, ports: set[int]) -> list[str]:
    """The parts of an EXPLAIN that a worker runs: each task's lines under its `Node: ... port=<worker>`."""
    lines, tasks = plan.splitlines(), []
    for n, line in enumerate(lines):
        if "Node: host=" in line and int(line.split("port=")[1].split()[0]) in ports:
            depth = len(line) - len(line.lstrip())
            block = [line]
            for following in lines[n + 1 :]:
                if len(following) - len(following.lstrip()) < depth:  # the task's plan is the Node line's sibling
                    break
                block.append(following)
            tasks.append("\n".join(block))
    return tasks


def test_the_pair_pass_runs_on_the_workers(settled, connections, databases, citus_cluster):
    """EXPLAIN of the pass as dbt compiled it (its last day): the ordered pass over the day's events (sort
    by pair and time, the lag() window, the per-pair aggregate) and its join with the earlier days run
    on the workers, shard by shard; the rare pairs' fold and the final assembly run on the coordinator,
    over the pairs the workers return (the pass's CTEs read more than once are planned as subplans)."""
    _, citus = connections
    target = PROJECT_ROOT / "target" / conninfo_to_dict(databases[1])["dbname"]
    compiled = (target / "compiled" / "settlement" / "models" / "intermediate" / "int_pair_daily_shard_0.sql").read_text()
    plan = "\n".join(row for (row,) in citus.execute(f"EXPLAIN {compiled}"))
    EXPLAIN_OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    EXPLAIN_OUTPUT.write_text(plan + "\n")
    print(plan)
    assert plan.startswith("Custom Scan (Citus Adaptive)"), plan
    on_workers = [
        task
        for task in worker_tasks(plan, {worker.port for worker in citus_cluster.workers})
        if "Seq Scan on watch_events_" in task
    ]
    assert on_workers, plan
    ordered_pass = on_workers[0]
    for step in ("GroupAggregate", "WindowAgg", "Sort Key: watch_events.user_id, watch_events.video_id, watch_events.occurred_at",
                 "Seq Scan on int_pair_daily_shard_0_"):  # fmt: skip
        assert step in ordered_pass, f"{step!r} not in the worker's task:\n{ordered_pass}"


def test_a_closed_day_and_late_events_give_the_same_adjustments(settled, connections, databases):
    """D closed on both; late events for D arrive (a view, a turned-down claim, an ad view, a copy);
    D+1 settled again re-settles D: the same adjustments, the closed day as it was paid, on both."""
    single, citus = connections
    p, v = settled
    for url in databases:
        closing.close_days(EngineSettings(_env_file=None, database_url=url), [D])
    late = Platform(Twin(single, citus))
    late.videos, late.ads = p.videos, p.ads
    viewer = late.user("late viewer")
    late.event("START", viewer, v[1], at(D, 21))
    late.event("PROGRESS", viewer, v[1], at(D, 21, 6), 360, position_seconds=360)  # across slot 1
    ad_id = next(iter(p.ads))
    late.impression(viewer, v[1], ad_id, 1, at(D, 21, 6), times=2)  # one ad view, one repeat
    late.event("PROGRESS", viewer, v[5], at(D, 22), 5000)  # more than the video: turned down
    copy = late.event("START", viewer, v[4], at(D, 23))
    late.event("START", viewer, v[4], at(D, 23), event_id=copy)  # a copy
    for url in databases:
        results = settle(EngineSettings(_env_file=None, database_url=url), D + DAY)
        assert [r.run_date for r in results] == [D, D + DAY]
    assert_same_tables(single, citus)
    adjustments = citus.execute(
        "SELECT booked_on, belongs_to, video_id, payout_delta FROM analytics.fct_payout_adjustments"
    ).fetchall()
    assert adjustments and all((booked, belongs) == (D + DAY, D) for booked, belongs, _, _ in adjustments)
    assert single.execute("SELECT count(*) FROM closed_video_payouts").fetchone()[0] > 0
