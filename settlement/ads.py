"""Ad slots and the daily ad lifecycle; the rules live in SQL (alembic/versions/0003_ads.py, 0061: the slot
length is the caller's, the setting ad_slot_seconds)."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import psycopg

from settlement.config import ENGINE_DEFAULTS
from settlement.db import one_row

DEFAULT_SLOT_SECONDS = ENGINE_DEFAULTS["ad_slot_seconds"]


@dataclass(frozen=True)
class AdRefresh:
    as_of: dt.date
    activated: int
    expired: int
    scheduled: int
    slots_freed: int
    slots_filled: int
    slots_empty: int

    def counts(self) -> dict[str, int]:
        counts = asdict(self)
        del counts["as_of"]
        return counts


def refresh_lifecycle(conn: psycopg.Connection, as_of: dt.date, slot_seconds: int = DEFAULT_SLOT_SECONDS) -> AdRefresh:
    """Moves every ad to its status for the platform day as_of and refills freed slots, in one transaction
    (videos have the slots of ad_slot_count at this slot length)."""
    with conn.transaction():
        row = one_row(
            conn.execute(
                """SELECT activated, expired, scheduled, slots_freed, slots_filled, slots_empty
               FROM refresh_ad_lifecycle(%s, %s)""",
                (as_of, slot_seconds),
            )
        )
    return AdRefresh(as_of, *row)


def fill_slots(conn: psycopg.Connection, video_ids: Iterable[int], slot_seconds: int = DEFAULT_SLOT_SECONDS) -> int:
    """Fills the empty ad slots of these (ACTIVE) videos with ACTIVE ads; returns how many it filled.

    Runs in the caller's transaction, so an upload can insert its video and fill its slots atomically.
    """
    filled: int = one_row(conn.execute("SELECT fill_ad_slots(%s::bigint[], %s)", (list(video_ids), slot_seconds)))[0]
    return filled
