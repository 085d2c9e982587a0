"""`settlement run --rebuild`: every day settled again, from the first day with events, in a schema of its
own beside the published one, then swapped in at once.

Readers see the published results until the swap, and all the new ones after it; a rebuild that fails
or is stopped anywhere changes nothing they see (what it built is dropped by the next rebuild). Closed
days are settled again under the rules they were closed under and stay in every result as paid (their
payable rows are the frozen ones); the open days are settled under the configuration's rules, which is
how the rules of the open days change (settled_days.rules). The swap is refused when, meanwhile,
another run settled or a day was closed: rebuild again then.
"""

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from settlement import db, pipeline, warehouse
from settlement.config import EngineSettings

log = logging.getLogger(__name__)

REBUILD_SCHEMA = warehouse.ANALYTICS_SCHEMA + "_rebuild"
REPLACED_SCHEMA = warehouse.ANALYTICS_SCHEMA + "_replaced"
REBUILT_DAYS = "rebuilt_days"  # in the rebuild's schema: what settled_days becomes at the swap


class RebuildConflict(RuntimeError):
    """Another run settled days, or a day was closed, while the rebuild ran."""


def plan(conn: psycopg.Connection, first: dt.date, last: dt.date, settings: EngineSettings) -> list[dt.date]:
    """Every day from the first settled or with events (or first) through last, or the last settled day
    if later: the rebuild replaces all of them."""
    settled = warehouse.settled_days(conn)
    start = min(filter(None, (warehouse.first_day_with_events(conn, first, settings.time_zone), first, *settled[:1])))
    return pipeline.days_from(start, max(last, settled[-1]) if settled else last)


def rebuild_days(
    settings: EngineSettings,
    days: list[dt.date],
    trigger: str = "manual",
    on_day: Callable[[int, int, pipeline.RunResult], None] | None = None,
) -> list[pipeline.RunResult]:
    """Settles `days` again (plan()) into the rebuild's schema; swaps it in when every day succeeded."""
    pipeline.refuse_unsettleable(days[0], days[-1], settings)
    database = db.resolve_database(settings).url
    with psycopg.connect(database, autocommit=True) as conn:
        before = ledger_state(conn)
        start_over(conn)
        results = pipeline.settle_days(
            settings, database, conn, days, trigger, on_day,
            extra_vars={"analytics_schema": REBUILD_SCHEMA, "rebuild": True, "new_rules": True},
        )  # fmt: skip
        if results and all(result.succeeded for result in results) and len(results) == len(days):
            swap_in(conn, before)
        return results


def ledger_state(conn: psycopg.Connection) -> tuple[Any, ...]:
    """What the swap must find unchanged: the settled days and the closed ones."""
    return db.one_row(
        conn.execute(
            """SELECT (SELECT coalesce(jsonb_agg(jsonb_build_array(day, run_id, settled_at) ORDER BY day), '[]') FROM settled_days),
                  (SELECT coalesce(jsonb_agg(day ORDER BY day), '[]') FROM closed_days)"""
        )
    )


def start_over(conn: psycopg.Connection) -> None:
    """An empty rebuild schema (what an earlier rebuild left is dropped), with its record of rebuilt days."""
    log.warning(
        "rebuilding: every day is settled again into %s, then swapped in for %s", REBUILD_SCHEMA, warehouse.ANALYTICS_SCHEMA
    )
    with conn.transaction():
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(REBUILD_SCHEMA)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(REBUILD_SCHEMA)))
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE settled_days INCLUDING DEFAULTS INCLUDING INDEXES)").format(
                sql.Identifier(REBUILD_SCHEMA, REBUILT_DAYS)
            )
        )


def swap_in(conn: psycopg.Connection, before: tuple[Any, ...]) -> None:
    """One transaction: no run may start, readers wait (the publish lock), nothing settled or closed
    meanwhile; the rebuilt schema becomes the published one and its days the settled days."""
    with conn.transaction():
        conn.execute(sql.SQL("SELECT pg_advisory_xact_lock({})").format(warehouse.lock_key_sql(warehouse.Lock.PIPELINE)))
        conn.execute(sql.SQL("SELECT pg_advisory_xact_lock({})").format(warehouse.lock_key_sql(warehouse.Lock.PUBLISH)))
        if ledger_state(conn) != before:
            raise RebuildConflict(
                "days were settled or closed while the rebuild ran: nothing was swapped in; run `settlement run --rebuild` again"
            )
        published, rebuilt, replaced = (
            sql.Identifier(name) for name in (warehouse.ANALYTICS_SCHEMA, REBUILD_SCHEMA, REPLACED_SCHEMA)
        )
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(replaced))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(published))  # (a first run may be a rebuild)
        conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(published, replaced))
        conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(rebuilt, published))
        conn.execute(
            sql.SQL(
                """INSERT INTO settled_days (day, run_id, run_started_at, settled_at, rules)
                   SELECT day, run_id, run_started_at, settled_at, rules FROM {}
                   ON CONFLICT (day) DO UPDATE SET run_id = excluded.run_id, run_started_at = excluded.run_started_at,
                       settled_at = excluded.settled_at, rules = excluded.rules"""
            ).format(sql.Identifier(warehouse.ANALYTICS_SCHEMA, REBUILT_DAYS))
        )
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(warehouse.ANALYTICS_SCHEMA, REBUILT_DAYS)))
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(replaced))
    log.warning("rebuilt: %s swapped in", warehouse.ANALYTICS_SCHEMA)
