"""PostgreSQL's binary COPY format, written straight from numpy arrays, and time-ordered event ids."""

import numpy as np
from psycopg import sql

from settlement.generate.rows import KINDS, AdImpressions, WatchEvents

UNIX_MS_AT_PG_EPOCH = 946_684_800_000
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # header, flags 0, no header extension
COPY_TRAILER = b"\xff\xff"

COPY_COLUMNS = {
    "watch_events": (
        "event_id",
        "occurred_at",
        "received_at",
        "user_id",
        "video_id",
        "position_seconds",
        "watched_seconds",
        "kind",
    ),
    "ad_impressions": ("event_id", "occurred_at", "received_at", "user_id", "video_id", "ad_id", "slot"),
}
# Every event's key goes into its source's registry with it (migration 0009): ids are unique per user for ever.
REGISTRIES = {"watch_events": "watch_event_ids", "ad_impressions": "ad_impression_ids"}
REGISTRY_COLUMNS = ("event_id", "user_id")


def copy_statement(table: str, target: str | None = None) -> sql.Composed:
    """COPY of `table`'s generated columns in binary, into `target` (one of its partitions) if given."""
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(target or table), sql.SQL(", ").join(map(sql.Identifier, COPY_COLUMNS[table]))
    )


def registry_copy_statement(table: str) -> sql.Composed:
    """COPY of the event keys of `table` into its registry, in binary."""
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(REGISTRIES[table]), sql.SQL(", ").join(map(sql.Identifier, REGISTRY_COLUMNS))
    )


def copy_tuples(columns: list[tuple[str, object]], count: int) -> np.ndarray:
    """COPY BINARY tuples as a numpy record array: (big-endian numpy type, values) per column."""
    layout = [("fields", ">i2")]
    for n, (kind, _) in enumerate(columns):
        layout += [(f"size{n}", ">i4"), (f"value{n}", kind)]
    tuples = np.empty(count, dtype=np.dtype(layout))
    tuples["fields"] = len(columns)
    for n, (_, values) in enumerate(columns):
        tuples[f"size{n}"] = tuples.dtype[f"value{n}"].itemsize
        tuples[f"value{n}"] = values
    return tuples


def event_uuids(occurred_us: np.ndarray, counter: int, salt: int, table: int) -> np.ndarray:
    """Time-ordered uuids (version 7 layout): unix milliseconds, then 12 bits of sub-millisecond time,
    then the variant, a table bit, the run's salt and a counter. Ids never repeat within a run, differ
    between appending runs, and events written in time order get ascending ids (index locality)."""
    return numbered_uuids(occurred_us, np.arange(counter, counter + len(occurred_us), dtype=np.uint64), salt, table)


def numbered_uuids(occurred_us: np.ndarray, numbers: np.ndarray, salt: int, table: int) -> np.ndarray:
    """event_uuids of events numbered `numbers` by the run's counter (the ids of some of them again)."""
    unix_ms, micros = np.divmod(occurred_us + UNIX_MS_AT_PG_EPOCH * 1000, 1000)
    high = unix_ms.astype(np.uint64) << np.uint64(16) | np.uint64(0x7000) | (micros * 4096 // 1000).astype(np.uint64)
    prefix = 0x8000_0000_0000_0000 | table << 61 | salt << 40
    low = np.uint64(prefix) + numbers.astype(np.uint64)
    ids = np.empty((len(occurred_us), 2), dtype=">u8")
    ids[:, 0], ids[:, 1] = high, low
    return ids.view("V16").ravel()


KIND_TEXT = np.array([kind.encode() for kind in KINDS])
KIND_LENGTH = np.array([len(kind) for kind in KINDS])


def encode_keys(ids: np.ndarray, user_ids: np.ndarray) -> bytes:
    """The registry rows (event_id, user_id) of encoded events."""
    return copy_tuples([("V16", ids), (">i8", user_ids)], len(ids)).tobytes()


def encode_watch_events(events: WatchEvents, received_us: np.ndarray, counter: int, salt: int) -> tuple[bytes, bytes]:
    """The events' COPY data and their keys'."""
    ids = event_uuids(events.occurred_us, counter, salt, table=0)
    return encode_watch_rows(events, received_us, ids), encode_keys(ids, events.user_id)


def encode_watch_rows(events: WatchEvents, received_us: np.ndarray, ids: np.ndarray) -> bytes:
    """COPY data of watch events with these ids (COPY_COLUMNS["watch_events"]). kind, the one text
    column, goes last: each tuple is laid out with room for the longest kind, and the unused tail bytes
    of shorter kinds are cut out afterwards."""
    tuples = copy_tuples(
        [
            ("V16", ids),
            (">i8", events.occurred_us),
            (">i8", received_us),
            (">i8", events.user_id),
            (">i8", events.video_id),
            (">i4", events.position),
            (">i4", events.watched),
            (KIND_TEXT.dtype.str, KIND_TEXT[events.kind]),
        ],
        len(events),
    )
    tuples["size7"] = KIND_LENGTH[events.kind]
    width = tuples.dtype.itemsize
    used = np.arange(width) < width - (KIND_TEXT.dtype.itemsize - KIND_LENGTH)[:, None]  # per kind
    data: bytes = tuples.view(np.uint8).reshape(-1, width)[used[events.kind]].tobytes()
    return data


def encode_ad_impressions(impressions: AdImpressions, received_us: np.ndarray, counter: int, salt: int) -> tuple[bytes, bytes]:
    ids = event_uuids(impressions.occurred_us, counter, salt, table=1)
    tuples = copy_tuples(
        [
            ("V16", ids),
            (">i8", impressions.occurred_us),
            (">i8", received_us),
            (">i8", impressions.user_id),
            (">i8", impressions.video_id),
            (">i8", impressions.ad_id),
            (">i4", impressions.slot),
        ],
        len(impressions),
    )
    return tuples.tobytes(), encode_keys(ids, impressions.user_id)
