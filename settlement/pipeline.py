"""Settling platform days: one `dbt build` per day, in order. The dbt project's own hooks take the
pipeline lease, refuse what cannot be settled, and publish the day in one transaction (see
macros/pipeline/run_lifecycle.sql), exactly as for a plain `dbt build`; this module plans the days,
starts each day's run (so that the run is recorded even if dbt cannot start), keeps its lease alive
and reports."""

import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import psycopg
from psycopg.conninfo import conninfo_to_dict

from settlement import clock, db, manifests, migrations, warehouse
from settlement.config import PROJECT_ROOT, EngineSettings
from settlement.warehouse import DayNotEnded as DayNotEnded  # re-exported: part of this module's API
from settlement.warehouse import PipelineBusy as PipelineBusy  # re-exported: part of this module's API

if TYPE_CHECKING:  # dbt is imported when it runs (it takes a second to import)
    from dbt.cli.main import dbtRunnerResult
    from dbt.contracts.graph.manifest import Manifest
    from dbt.contracts.graph.nodes import ManifestNode

log = logging.getLogger(__name__)

# Every node but the source contract tests (documentation, run with `settlement dbt test`) and the unit
# tests (the pricing's own tests): selectors.yml's default, which a plain `dbt build` uses too.
SETTLEMENT_SELECTOR = "settlement"
# The same without the staging views and seeds, when they are as deployed (selector_for).
DAY_SELECTOR = "settlement_day"
# The day's and the payments views, when only the latter are not as deployed (gone with the tables they
# read, or changed): the staging views and seeds, which read only the source tables, stay.
DAY_AND_PAYMENTS_SELECTOR = "settlement_day_and_payments"
DEPLOYED_MARK = "settlement deployed "  # + the node's checksum (macros/deployed.sql)
DEPLOYED_FOLDERS = {"staging", "payments"}  # their views change only with the project (dbt_project.yml)
# The statuses of a dbt node that failed on its own. Not 'skipped': a node skipped because one upstream
# failed is a consequence, and the failed node is named already.
FAILED_NODE_STATUSES = ("error", "fail", "runtime error")


@dataclass
class RunResult:
    run_id: int
    run_date: dt.date
    status: str  # SUCCEEDED | FAILED
    seconds: float
    row_counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    quarantined: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


# Server options for dbt's sessions (libpq reads PGOPTIONS; dbt-postgres's profile has no such field).
# The pipeline's statements run for seconds, and JIT compiling them cost 0.2-1 s each and saved less.
DBT_SESSION_OPTIONS = "-c jit=off"


def dbt_environment(database_url: str) -> dict[str, str]:
    """The profile's connection variables (profiles.yml reads these) for a database URL."""
    params = conninfo_to_dict(database_url)
    options = os.environ.get("PGOPTIONS", "")  # the user's, and the platform clock's (settlement.clock)
    return {
        "PGOPTIONS": options if DBT_SESSION_OPTIONS in options else f"{options} {DBT_SESSION_OPTIONS}".strip(),
        "SETTLEMENT_DBT_HOST": str(params.get("host", "127.0.0.1")),
        "SETTLEMENT_DBT_PORT": str(params.get("port", "5432")),
        "SETTLEMENT_DBT_USER": str(params.get("user", "postgres")),
        "SETTLEMENT_DBT_PASSWORD": str(params.get("password", "")),
        "SETTLEMENT_DBT_DBNAME": str(params["dbname"]),
    }


# The settings a day is settled under: each has its dbt var's name.
RULE_NAMES = ("time_zone", "view_window_hours", "ad_slot_seconds", "watched_slack_seconds", "clock_skew_seconds")


def rules(settings: EngineSettings) -> dict[str, Any]:
    """The rules a day is settled under, as the dbt project's vars name them (macros/pipeline/rules.sql;
    the price tiers are the seed's unless a closed day's own are given)."""
    return {name: getattr(settings, name) for name in RULE_NAMES}


def dbt_vars(
    settings: EngineSettings, day: dt.date | None, run_id: int | None = None, day_rules: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The settings the engine runs with, as the dbt project's vars (dbt_project.yml names them); day_rules:
    the rules a closed day was settled under, when it is settled again (it keeps them)."""
    variables = {
        **rules(settings),
        **(day_rules or {}),
        "late_event_horizon_days": settings.late_event_horizon_days,
        "run_lease_seconds": settings.run_lease_seconds,
        "configured_by": "settlement",  # the rules are the settings', not a command line's
    }
    if day is not None:
        variables["run_date"] = day.isoformat()
    if run_id is not None:
        variables["run_id"] = run_id
    return variables


def target_path(database_url: str, variables: dict[str, Any]) -> Path:
    """dbt's target folder of a database (and of the schema the models are built in: a rebuild's own), so
    that runs against different databases never share dbt's state."""
    return PROJECT_ROOT / "target" / "-".join([_database_of(database_url), *filter(None, [variables.get("analytics_schema")])])


def write_run_results(database_url: str, variables: dict[str, Any], outcome: "dbtRunnerResult") -> None:
    """dbt's run_results.json of the run, where dbt writes it (bench/ reads each node's seconds there)."""
    if outcome.result is not None and hasattr(outcome.result, "write"):
        outcome.result.write(str(target_path(database_url, variables) / "run_results.json"))


class PipelineError(RuntimeError):
    """dbt could not even start (the project does not parse, the database does not answer)."""


def invoke_dbt(
    database_url: str, args: list[str], variables: dict[str, Any], quiet: bool = True, manifest: "Manifest | None" = None
) -> "dbtRunnerResult":
    """Runs dbt in-process against database_url; returns dbt's dbtRunnerResult. With a manifest from an
    earlier parse, dbt skips parsing the project (seconds per run)."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_environment(database_url))
    # The run's own date and id reach dbt as environment variables, read only when it executes: as vars
    # they would differ from one run to the next, and dbt parses the whole project again (seconds) when
    # its vars change. (A user's --vars run_date still wins: macros/platform_calendar.sql.)
    variables = dict(variables)
    for name, variable in PER_RUN_VARIABLES.items():
        value = variables.pop(name, None)
        if value is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = str(value)
    target = target_path(database_url, variables)
    common = [
        "--project-dir", str(PROJECT_ROOT),
        "--profiles-dir", str(PROJECT_ROOT),
        "--target-path", str(target),
        "--log-path", str(target / "logs"),
        "--vars", json.dumps(variables),
    ]  # fmt: skip
    log_level = ["--log-level", "warn"] if quiet else []
    try:
        return dbtRunner(manifest=manifest).invoke([*log_level, *args, *common])
    finally:
        for variable in PER_RUN_VARIABLES.values():
            os.environ.pop(variable, None)


# What changes from one run to the next (macros/platform_calendar.sql, macros/pipeline/run_lifecycle.sql).
PER_RUN_VARIABLES = {"run_date": "SETTLEMENT_RUN_DATE", "run_id": "SETTLEMENT_RUN_ID"}


# Parsed dbt projects in this process, per database (the manifest names the database) and schema of the
# models (fixed when the project is parsed). Other vars are applied when a model is compiled, so one
# parse serves every run date.
_manifests: "dict[tuple[str, str | None], Manifest]" = {}
# The same parses by what they were parsed from (settlement.manifests): the database each names, serialized.
_parses: dict[str, tuple[str, bytes]] = {}


def parsed_project(database_url: str, variables: dict[str, Any]) -> "Manifest":
    key = (database_url, variables.get("analytics_schema"))
    if key not in _manifests:
        _manifests[key] = _manifest_for(database_url, variables)
    return _manifests[key]


def _manifest_for(database_url: str, variables: dict[str, Any]) -> "Manifest":
    """A parse of the project for this database: this process's, a stored one, or a new one."""
    fingerprint = manifests.fingerprint({k: v for k, v in variables.items() if k not in PER_RUN_VARIABLES})
    parsed = _parses.get(fingerprint) or manifests.load(fingerprint)
    if parsed is None:
        result = invoke_dbt(database_url, ["parse"], variables)
        if not result.success:
            raise PipelineError(f"the dbt project does not parse: {result.exception}")
        manifest = cast("Manifest", result.result)  # what `dbt parse` results in
        _parses[fingerprint] = manifests.store(fingerprint, _database_of(database_url), manifest)
        return manifest
    _parses[fingerprint] = parsed
    return manifests.bound(parsed[1], parsed[0], _database_of(database_url))


def _database_of(database_url: str) -> str:
    return str(conninfo_to_dict(database_url)["dbname"])


def _summarise(dbt_result: "dbtRunnerResult") -> str:
    """What went wrong in a dbt invocation, in one line."""
    problems = []
    for node_result in getattr(dbt_result.result, "results", None) or []:
        if str(node_result.status) in FAILED_NODE_STATUSES:
            problems.append(f"{node_result.node.name}: {node_result.message}")
    if dbt_result.exception is not None:
        problems.append(db.first_line(str(dbt_result.exception)) or repr(dbt_result.exception))
    return "; ".join(problems) or "dbt build failed"


class Heartbeat:
    """Keeps a run's lease alive from a thread of its own while dbt works (dbt's nodes renew it too,
    but one node may take longer than a lease)."""

    def __init__(self, database_url: str, run_id: int, lease_seconds: int):
        self.database_url, self.run_id, self.lease_seconds = database_url, run_id, lease_seconds
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)

    def _beat(self) -> None:
        try:
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                while not self.stopped.wait(max(1.0, self.lease_seconds / 4)):
                    if not warehouse.renew_run(conn, self.run_id, self.lease_seconds):
                        return
        except psycopg.Error as exc:  # the run's own nodes still renew; the lease runs out if they cannot
            log.warning("heartbeat of run %s stopped: %s", self.run_id, exc)

    def __enter__(self) -> "Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()


def settle_day(
    settings: EngineSettings,
    database_url: str,
    conn: psycopg.Connection,
    day: dt.date,
    trigger: str,
    extra_vars: dict[str, Any] | None = None,
) -> RunResult:
    """One day: the run starts here (recorded, holding the lease through this connection's backend),
    dbt builds, tests and publishes it. A closed day is settled under the rules it was closed under."""
    started = time.perf_counter()
    run_id = warehouse.begin_run(conn, day, trigger, settings.run_lease_seconds, settings.time_zone)
    variables = {**dbt_vars(settings, day, run_id, warehouse.closed_day_rules(conn, day)), **(extra_vars or {})}
    try:
        with Heartbeat(database_url, run_id, settings.run_lease_seconds):
            manifest = parsed_project(database_url, variables)
            selector = selector_for(undeployed(conn, manifest))
            # dbt would write the manifest too (megabytes, the same every run): only the run's results
            outcome = invoke_dbt(database_url, ["build", "--selector", selector, "--no-write-json"], variables, manifest=manifest)
    except BaseException as exc:  # recorded, then raised to the caller
        warehouse.fail_run(conn, run_id, f"interrupted: {exc!r}")
        raise
    write_run_results(database_url, variables, outcome)
    if not outcome.success:
        warehouse.fail_run(conn, run_id, _summarise(outcome))
    record = warehouse.run_record(conn, run_id)
    return RunResult(
        run_id,
        day,
        record.status,
        time.perf_counter() - started,
        record.row_counts or {},
        record.error,
        record.quarantined or {},
    )


def undeployed(conn: psycopg.Connection, manifest: "Manifest") -> set[str]:
    """The groups of deployed nodes ('staging', 'payments', 'seed') of which a node is not in the database
    as the parsed project has it (each is marked with its file's checksum when built, macros/deployed.sql)."""
    wanted = {
        (node.schema, node.alias or node.name): (group, DEPLOYED_MARK + node.checksum.checksum)
        for node in manifest.nodes.values()
        if (group := deployed_group(node)) is not None
    }
    found = {
        (schema, name): mark
        for schema, name, mark in conn.execute(
            """SELECT n.nspname, c.relname, obj_description(c.oid, 'pg_class')
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = ANY(%s) AND c.relname = ANY(%s)""",
            (list({schema for schema, _ in wanted}), [name for _, name in wanted]),
        )
    }
    return {group for key, (group, mark) in wanted.items() if found.get(key) != mark}


def deployed_group(node: "ManifestNode") -> str | None:
    from dbt.artifacts.resources.types import NodeType  # (a StrEnum: NodeType.Seed == "seed")

    if node.resource_type == NodeType.Seed:
        return "seed"
    folders = DEPLOYED_FOLDERS & set(node.fqn[1:-1]) if node.resource_type == NodeType.Model else set()
    return min(folders) if folders else None


def selector_for(undeployed_groups: set[str]) -> str:
    """The smallest run that builds the day and every deployed node that is not as deployed."""
    if not undeployed_groups:
        return DAY_SELECTOR
    if undeployed_groups == {"payments"}:
        return DAY_AND_PAYMENTS_SELECTOR
    return SETTLEMENT_SELECTOR


def plan_days(conn: psycopg.Connection, first: dt.date, last: dt.date, settings: EngineSettings) -> list[dt.date]:
    """first..last, after the days that must be settled before first (days_to_settle_before), and then
    again every day settled after last: their numbers follow from the days before them."""
    before = warehouse.days_to_settle_before(
        conn, first, settings.late_event_horizon_days, settings.time_zone, settings.watched_slack_seconds
    )
    if before:
        log.warning(
            "settling %s .. %s first: not settled yet, settled again before it, or events arrived after they were",
            before[0],
            before[-1],
        )
    after = warehouse.settled_days(conn, last + dt.timedelta(days=1))
    return (
        [*before, *days_from(first, last), *days_from(last + dt.timedelta(days=1), after[-1])]
        if after
        else [*before, *days_from(first, last)]
    )


def days_from(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


class RulesRefused(ValueError):
    """A day cannot be settled under the configuration's rules (settlement_rules_problem, migration 0033)."""


def refuse_other_rules(conn: psycopg.Connection, days: list[dt.date], settings: EngineSettings) -> None:
    """Before anything runs: every day of the plan can be settled under its rules (the settings', or a
    closed day's own)."""
    for day in days:
        if warehouse.closed_day_rules(conn, day) is None:
            problem = warehouse.rules_problem(conn, day, rules(settings))
            if problem:
                raise RulesRefused(problem)


def run_days(
    settings: EngineSettings,
    first: dt.date,
    last: dt.date | None = None,
    trigger: str = "manual",
    on_day: Callable[[int, int, RunResult], None] | None = None,
    plan: list[dt.date] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[RunResult]:
    """Settles first..last (after the days that must be settled first, and then again the days settled
    after last), stopping at the first failed day. on_day(n, total, result) is told of each day as it
    ends; when should_stop() says so, no further day is begun (a day in progress is finished)."""
    last = last or first
    refuse_unsettleable(first, last, settings)
    database = db.resolve_database(settings)
    with psycopg.connect(database.url, autocommit=True) as conn:
        days = plan if plan is not None else plan_days(conn, first, last, settings)
        refuse_other_rules(conn, days, settings)
        return settle_days(settings, database.url, conn, days, trigger, on_day, should_stop)


def refuse_unsettleable(first: dt.date, last: dt.date, settings: EngineSettings) -> None:
    if first > last:
        raise ValueError(f"the range {first} .. {last} is empty: the first day is after the last")
    if last >= clock.today(settings.time_zone):
        raise DayNotEnded(
            f"cannot settle {last}: a day can be settled once it has ended in {settings.time_zone}, "
            f"and today is {clock.today(settings.time_zone)}"
        )


def settle_days(
    settings: EngineSettings,
    database_url: str,
    conn: psycopg.Connection,
    days: list[dt.date],
    trigger: str,
    on_day: Callable[[int, int, RunResult], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    extra_vars: dict[str, Any] | None = None,
) -> list[RunResult]:
    """The days in order, a run each, stopping at the first that fails."""
    migrations.ensure_day_partitions(conn, days[0], days[-1] + dt.timedelta(days=1), settings.time_zone)
    results = []
    for n, day in enumerate(days, start=1):
        result = settle_day(settings, database_url, conn, day, trigger, extra_vars)
        results.append(result)
        log.info("settled %s: %s in %.2f s", day, result.status, result.seconds)
        if on_day:
            on_day(n, len(days), result)
        if not result.succeeded:
            break
        if should_stop and should_stop() and n < len(days):
            log.warning("stopping: %s .. %s left unsettled", days[n], days[-1])
            break
    return results
