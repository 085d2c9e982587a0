"""Users (1 in 20 a seller), videos with sellers' skewed catalogs, ads with contracts around the generated
days, their slots, and who watches what: popularity as cumulative distributions to draw from."""

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import psycopg

from settlement import ads, db
from settlement.config import CommonSettings
from settlement.generate.config import GenerateConfig, filled_in

# What the catalog looks like. Shapes of made-up data, not product rules.
USER_ACTIVITY_EXPONENT = 0.6  # some users watch much more than others
SELLER_CATALOG_EXPONENT = 1.1  # a few sellers own most of the videos
MEDIAN_VIDEO_SECONDS, VIDEO_SECONDS_SIGMA, SHORTEST_VIDEO, LONGEST_VIDEO = 480, 0.9, 60, 3600
PLACEHOLDER_PASSWORD_HASH = "!synthetic: no password verifies against this"  # noqa: S105 (matches no password)


@dataclass
class Attackers:
    """Accounts that only send attack traffic (settlement.generate.attacks), and the rules they aim at."""

    burst_groups: np.ndarray  # (groups, accounts per group) user ids: day n bursts from group n % groups
    others: np.ndarray  # user ids of the accounts that seek and send values at the limits
    slack_seconds: int  # what a burst's reports claim each: the slack the quality gate grants


@dataclass
class Catalog:
    """The generated users and videos, as arrays indexed by a dense position, and who watches what."""

    user_ids: np.ndarray
    video_ids: np.ndarray
    video_sellers: np.ndarray  # per video: its seller's position in user_ids
    durations: np.ndarray
    user_cdf: np.ndarray
    video_cdf: np.ndarray
    slot_start: np.ndarray  # per video: where its slots begin in slot_ads
    slot_count: np.ndarray  # per video: its highest filled slot
    slot_ads: np.ndarray  # ad id of each (video, slot); 0 where the slot is empty
    slot_seconds: int
    event_salt: int
    rows: dict[str, int] = field(default_factory=dict)
    attackers: Attackers | None = None


def create_catalog(conn: psycopg.Connection, config: GenerateConfig, settings: CommonSettings) -> Catalog:
    rng = np.random.default_rng([config.seed, 0])
    first_day_start = db.one_row(
        conn.execute("SELECT %s::date::timestamp AT TIME ZONE %s", (config.first_day, settings.time_zone))
    )[0]
    user_ids = insert_users(conn, rng, config, first_day_start)
    video_ids, video_sellers, durations = insert_videos(conn, rng, config, user_ids[: config.sellers], first_day_start)
    insert_ads(conn, rng, config)
    slot_start, slot_count, slot_ads = seeded_slot_table(conn, config.seed, video_ids, settings.ad_slot_seconds)
    stream_rng = np.random.default_rng([config.seed, int(user_ids[0]), int(video_ids[0])])
    return Catalog(
        user_ids=user_ids,
        video_ids=video_ids,
        video_sellers=video_sellers,
        durations=durations,
        user_cdf=zipf_cdf(rng, len(user_ids), USER_ACTIVITY_EXPONENT),
        video_cdf=zipf_cdf(rng, len(video_ids), config.popularity_exponent),
        slot_start=slot_start,
        slot_count=slot_count,
        slot_ads=slot_ads,
        slot_seconds=settings.ad_slot_seconds,
        event_salt=int(stream_rng.integers(0, 1 << 21)),  # bits 40..60 of an id's low half
        rows={
            "users": len(user_ids),
            "videos": len(video_ids),
            "ads": filled_in(config.ads, "ads"),
            "video_ads": int((slot_ads > 0).sum()),
        },
    )


def reserve_ids(conn: psycopg.Connection, table: str, count: int) -> np.ndarray:
    """count new ids from the table's identity sequence, ascending (gaps possible under concurrency)."""
    ids = db.one_row(
        conn.execute(
            """SELECT array_agg(id ORDER BY id)
           FROM (SELECT nextval(pg_get_serial_sequence(%s, 'id')) AS id FROM generate_series(1, %s)) AS reserved""",
            (table, count),
        )
    )[0]
    return np.array(ids or [], dtype=np.int64)


def seconds_before(rng: np.random.Generator, count: int, most_days: int) -> list[int]:
    """Random ages in seconds, from 1 day up to most_days days (for created_at before the first day)."""
    ages: list[int] = rng.integers(86_400, most_days * 86_400, count).tolist()
    return ages


def insert_users(
    conn: psycopg.Connection, rng: np.random.Generator, config: GenerateConfig, first_day_start: dt.datetime
) -> np.ndarray:
    ids = reserve_ids(conn, "users", config.users)
    conn.execute(
        """
        INSERT INTO users (id, email, username, password_hash, role, created_at) OVERRIDING SYSTEM VALUE
        SELECT u.id,
               'synthetic-user-' || u.id || '@example.com',
               CASE WHEN u.n <= %(sellers)s THEN 'seller-' ELSE 'user-' END || u.id,
               %(password_hash)s,
               CASE WHEN u.n <= %(sellers)s THEN 'SELLER' ELSE 'USER' END,
               %(first_day_start)s - make_interval(secs => u.age)
        FROM unnest(%(ids)s::bigint[], %(ages)s::bigint[]) WITH ORDINALITY AS u (id, age, n)
        """,
        {
            "ids": ids.tolist(),
            "ages": seconds_before(rng, len(ids), 3 * 365),
            "sellers": config.sellers,
            "password_hash": PLACEHOLDER_PASSWORD_HASH,
            "first_day_start": first_day_start,
        },
    )
    return ids


def video_durations(rng: np.random.Generator, count: int, shortest: int = SHORTEST_VIDEO) -> np.ndarray:
    """Lengths from 1 minute to 1 hour, most around 8 minutes; with a longer shortest length, the same
    curve moved up to start there (up to an hour, or twice the shortest when that is longer)."""
    seconds = rng.lognormal(np.log(MEDIAN_VIDEO_SECONDS), VIDEO_SECONDS_SIGMA, count) + (shortest - SHORTEST_VIDEO)
    return np.clip(np.rint(seconds), shortest, max(LONGEST_VIDEO, 2 * shortest)).astype(np.int64)


def insert_videos(
    conn: psycopg.Connection,
    rng: np.random.Generator,
    config: GenerateConfig,
    seller_ids: np.ndarray,
    first_day_start: dt.datetime,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The videos' ids, their sellers (positions in seller_ids, the users' first ones) and lengths."""
    ids = reserve_ids(conn, "videos", config.videos)
    sellers = draw(rng, zipf_cdf(rng, len(seller_ids), SELLER_CATALOG_EXPONENT), len(ids))
    owners = seller_ids[sellers]
    durations = video_durations(rng, len(ids), shortest=config.min_video_minutes * 60)
    conn.execute(
        """
        INSERT INTO videos (id, seller_id, title, description, video_url, duration_seconds, status, created_at)
        OVERRIDING SYSTEM VALUE
        SELECT v.id, v.seller_id, 'Synthetic video ' || v.id, 'Generated for load and demo runs.',
               'https://videos.example.com/' || v.id, v.duration, 'ACTIVE',
               %(first_day_start)s - make_interval(secs => v.age)
        FROM unnest(%(ids)s::bigint[], %(owners)s::bigint[], %(durations)s::int[], %(ages)s::bigint[])
             AS v (id, seller_id, duration, age)
        """,
        {
            "ids": ids.tolist(),
            "owners": owners.tolist(),
            "durations": durations.tolist(),
            "ages": seconds_before(rng, len(ids), 365),
            "first_day_start": first_day_start,
        },
    )
    return ids, sellers, durations


def ad_contracts(rng: np.random.Generator, config: GenerateConfig) -> tuple[list[dt.date], list[dt.date]]:
    """Contract periods around the generated days: most cover them all and the day after (ACTIVE), some
    start after it (SCHEDULED), some ended before the first day (EXPIRED). At least one is active."""
    as_of = config.last_day + dt.timedelta(days=1)
    first_day = filled_in(config.first_day, "first_day")
    starts, ends = [], []
    for n, roll in enumerate(rng.random(config.ads)):
        lead, length = int(rng.integers(0, 60)), int(rng.integers(30, 180))
        if roll < 0.8 or n == 0:
            start, end = first_day - dt.timedelta(days=lead), as_of + dt.timedelta(days=length)
        elif roll < 0.9:
            start = as_of + dt.timedelta(days=1 + lead)
            end = start + dt.timedelta(days=length)
        else:
            end = first_day - dt.timedelta(days=1 + lead)
            start = end - dt.timedelta(days=length)
        starts.append(start)
        ends.append(end)
    return starts, ends


def insert_ads(conn: psycopg.Connection, rng: np.random.Generator, config: GenerateConfig) -> None:
    if not config.ads:
        return
    ids = reserve_ids(conn, "ads", config.ads)
    starts, ends = ad_contracts(rng, config)
    conn.execute(
        """
        INSERT INTO ads (id, title, ad_url, duration_seconds, contract_start, contract_end, status)
        OVERRIDING SYSTEM VALUE
        SELECT a.id, 'Synthetic ad ' || a.id, 'https://ads.example.com/' || a.id, a.duration,
               a.contract_start, a.contract_end, ad_status_on(a.contract_start, a.contract_end, %(as_of)s)
        FROM unnest(%(ids)s::bigint[], %(durations)s::int[], %(starts)s::date[], %(ends)s::date[])
             AS a (id, duration, contract_start, contract_end)
        """,
        {
            "ids": ids.tolist(),
            "durations": rng.choice([15, 30, 60], len(ids)).tolist(),
            "starts": starts,
            "ends": ends,
            "as_of": config.last_day + dt.timedelta(days=1),
        },
    )


def seeded_slot_table(
    conn: psycopg.Connection, seed: int, video_ids: np.ndarray, slot_seconds: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fills the new videos' ad slots by the product's rule (settlement.ads.fill_slots, which picks randomly
    among equally loaded ads: seeding the session's random() keeps that deterministic) and returns them as
    a dense slot table: each video's first slot and slot count, and the ad in each slot."""
    conn.execute("SELECT setseed(%s)", ((seed % 2**31) / 2**31,))
    ads.fill_slots(conn, video_ids.tolist(), slot_seconds)
    rows = conn.execute(
        "SELECT video_id, slot, ad_id FROM video_ads WHERE video_id = ANY (%s::bigint[])", (video_ids.tolist(),)
    ).fetchall()
    slots = np.array(rows, dtype=np.int64).reshape(-1, 3)
    positions = np.searchsorted(video_ids, slots[:, 0])
    slot_count = np.zeros(len(video_ids), dtype=np.int64)
    np.maximum.at(slot_count, positions, slots[:, 1])
    slot_start = np.cumsum(slot_count) - slot_count
    slot_ads = np.zeros(int(slot_count.sum()), dtype=np.int64)
    slot_ads[slot_start[positions] + slots[:, 1] - 1] = slots[:, 2]
    return slot_start, slot_count, slot_ads


def zipf_cdf(rng: np.random.Generator, count: int, exponent: float) -> np.ndarray:
    """Cumulative popularity of `count` items whose ranks are a random permutation: rank r weighs r^-exponent."""
    weights = (rng.permutation(count) + 1.0) ** -exponent
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    return cdf


def draw(rng: np.random.Generator, cdf: np.ndarray, count: int) -> np.ndarray:
    return np.searchsorted(cdf, rng.random(count), side="right")
