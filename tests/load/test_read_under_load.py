"""Sellers keep reading their payouts while the pipeline settles the same day again.

The real API runs under uvicorn in a subprocess on 127.0.0.1; a small day is settled once, late
views arrive, and `settlement run` settles the day again in another subprocess while an open-loop
load generator asks for that day's payouts at a steady rate. Every answer must be a 200 showing the
day whole: the payouts as first settled or as settled again, never a mix, never an error.

Bounded: SETTLEMENT_LOAD_SECONDS (default 20) at SETTLEMENT_LOAD_RATE requests/s (default 300),
carried on until the rerun has finished, but never past HARD_STOP_SECONDS nor MAX_REQUESTS.
A quick run: SETTLEMENT_LOAD_SECONDS=3 .venv/bin/pytest tests/load -s
"""

import asyncio
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from api.auth.service import access_token
from api.config import ApiSettings
from settlement import clock as platform_clock
from settlement.ads import DEFAULT_SLOT_SECONDS
from settlement.config import PROJECT_ROOT, EngineSettings
from settlement.pipeline import run_days
from tests.servers import LOOPBACK, free_port, wait_until_serving

LOAD_SECONDS = float(os.environ.get("SETTLEMENT_LOAD_SECONDS", "20"))
LOAD_RATE = float(os.environ.get("SETTLEMENT_LOAD_RATE", "300"))
HARD_STOP_SECONDS = LOAD_SECONDS + 30
MAX_REQUESTS = int(LOAD_RATE * HARD_STOP_SECONDS)
# Enough for the target rate at tens of ms a request; httpx's own CPU cost grows with its open
# connections (at 64 the generator, not the API, was the bottleneck on a 2-core machine).
MAX_IN_FLIGHT = 8
RERUN_STARTS_AFTER = min(2.0, LOAD_SECONDS / 4)  # a little load first, to read the first settlement
AFTER_RERUN_SECONDS = 1.0  # and a little after, to read the second
JWT_SECRET = "load-test-secret-of-at-least-32-bytes"

VIDEOS, VIEWERS, LATE_VIEWS = 12, 150, 40
pytestmark = [pytest.mark.load, pytest.mark.serial]


# The scenario, in SQL: one seller, videos of which the long ones have ad slots, viewers who watch
# and see ads; later, LATE_VIEWS more views of the first video by new viewers.


def load_day(conn, day: dt.date, zone) -> tuple[int, int]:
    """(seller id, first video id) of a small day of viewing."""
    seller = conn.execute(
        "INSERT INTO users (email, username, password_hash, role) VALUES ('load-seller@example.com', 'seller', 'x', 'SELLER') RETURNING id"
    ).fetchone()[0]
    conn.execute(
        """INSERT INTO ads (title, ad_url, duration_seconds, contract_start, contract_end, status)
           SELECT 'ad ' || n, 'https://ads.example.com/' || n, 15, %s, %s, 'ACTIVE' FROM generate_series(1, 3) AS n""",
        (day - dt.timedelta(days=30), day + dt.timedelta(days=30)),
    )
    videos = [
        row[0]
        for row in conn.execute(
            """INSERT INTO videos (seller_id, title, video_url, duration_seconds, created_at)
               SELECT %s, 'video ' || n, 'https://cdn.example.com/' || n, CASE WHEN n %% 2 = 0 THEN 900 ELSE 240 END, %s
               FROM generate_series(1, %s) AS n RETURNING id""",
            (seller, day - dt.timedelta(days=30), VIDEOS),
        )
    ]
    conn.execute("SELECT fill_ad_slots(%s::bigint[], %s)", (videos, DEFAULT_SLOT_SECONDS))
    viewers = add_viewers(conn, "viewer", VIEWERS)
    noon = dt.datetime.combine(day, dt.time(12), zone)
    # Viewer i watches videos i, i+1 and i+2 (mod VIDEOS) for 240 s; the long ones show slot 1's ad at 300 s
    # only to every third viewer, who watches on to 330 s (the impression is recorded with the STOP,
    # whose playing crossed the slot).
    conn.execute(
        """WITH watching AS (
               SELECT u.id AS user_id, (%(videos)s::bigint[])[1 + (u.n + k) %% %(count)s] AS video_id,
                      %(noon)s::timestamptz + make_interval(mins => (u.n + 20 * k)::int) AS started_at,
                      CASE WHEN u.n %% 3 = 0 THEN 330 ELSE 240 END AS seconds
               FROM unnest(%(viewers)s::bigint[]) WITH ORDINALITY AS u (id, n), generate_series(0, 2) AS k
           ),
           sessions AS (
               SELECT w.*, v.duration_seconds, least(w.seconds, v.duration_seconds) AS played
               FROM watching w JOIN videos v ON v.id = w.video_id
           ),
           starts AS (
               INSERT INTO watch_events (event_id, kind, user_id, video_id, occurred_at, position_seconds, watched_seconds)
               SELECT gen_random_uuid(), 'START', user_id, video_id, started_at, 0, 0 FROM sessions
           ),
           stops AS (
               INSERT INTO watch_events (event_id, kind, user_id, video_id, occurred_at, position_seconds, watched_seconds)
               SELECT gen_random_uuid(), 'STOP', user_id, video_id, started_at + make_interval(secs => played::int), played, played
               FROM sessions
           )
           INSERT INTO ad_impressions (event_id, user_id, video_id, ad_id, slot, occurred_at)
           SELECT gen_random_uuid(), s.user_id, s.video_id, a.ad_id, 1, s.started_at + make_interval(secs => s.played::int)
           FROM sessions s JOIN video_ads a ON a.video_id = s.video_id AND a.slot = 1
           WHERE s.played >= 300""",
        {"videos": videos, "count": VIDEOS, "noon": noon, "viewers": viewers},
    )
    return seller, videos[0]


def add_viewers(conn, prefix: str, count: int) -> list[int]:
    return [
        row[0]
        for row in conn.execute(
            """INSERT INTO users (email, username, password_hash)
               SELECT %s || n || '@example.com', 'viewer', 'x' FROM generate_series(1, %s) AS n RETURNING id""",
            (prefix, count),
        )
    ]


def add_late_views(conn, day: dt.date, zone, video_id: int) -> int:
    """Late views of the video, and, by the same viewers playing a video with ads to its end, as many late
    impressions of each of its ads: the rerun changes videos' rows and per-ad rows (in different marts).
    Returns the impressions added."""
    viewers = add_viewers(conn, "late", LATE_VIEWS)
    evening = dt.datetime.combine(day, dt.time(20), zone)
    ad_video, length = conn.execute(
        "SELECT id, duration_seconds FROM videos WHERE id = (SELECT min(video_id) FROM video_ads)"
    ).fetchone()
    played_out = evening + dt.timedelta(minutes=30, seconds=length)
    conn.execute(
        """INSERT INTO watch_events (event_id, kind, user_id, video_id, occurred_at, position_seconds, watched_seconds)
           SELECT gen_random_uuid(), 'START', u, %(video)s, %(evening)s, 0, 0 FROM unnest(%(viewers)s::bigint[]) AS u
           UNION ALL
           SELECT gen_random_uuid(), 'START', u, %(ad_video)s, %(evening)s + interval '30 minutes', 0, 0
           FROM unnest(%(viewers)s::bigint[]) AS u
           UNION ALL
           SELECT gen_random_uuid(), 'STOP', u, %(ad_video)s, %(played_out)s, %(length)s, %(length)s
           FROM unnest(%(viewers)s::bigint[]) AS u""",
        {
            "video": video_id,
            "evening": evening,
            "viewers": viewers,
            "ad_video": ad_video,
            "played_out": played_out,
            "length": length,
        },
    )
    return conn.execute(
        """INSERT INTO ad_impressions (event_id, user_id, video_id, ad_id, slot, occurred_at)
           SELECT gen_random_uuid(), u, a.video_id, a.ad_id, a.slot, %s
           FROM unnest(%s::bigint[]) AS u
           JOIN video_ads a ON a.video_id = %s""",
        (played_out, viewers, ad_video),
    ).rowcount


def settled_total(conn, seller: int, day: dt.date) -> int:
    return conn.execute(
        """SELECT coalesce(sum(payout), 0) FROM analytics.fct_video_payouts
           WHERE period = 'day' AND period_start = %s AND seller_id = %s""",
        (day, seller),
    ).fetchone()[0]


# The server and the rerun, as subprocesses.


def environment(database_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "SETTLEMENT_JWT_SECRET": JWT_SECRET}


def start_api(database_url: str, port: int, log: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory",
        "--host", LOOPBACK, "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("w") as output:  # a file, not a pipe nobody reads: a full pipe would stall the server
        return subprocess.Popen(command, env=environment(database_url), cwd=PROJECT_ROOT, stdout=output, stderr=output)


@dataclass
class Rerun:
    started: float | None = None  # seconds since the load started
    finished: float | None = None
    returncode: int | None = None
    process: asyncio.subprocess.Process | None = None

    def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()

    @property
    def seconds(self) -> float:
        return self.finished - self.started


async def rerun_day(database_url: str, day: dt.date, clock, rerun: Rerun, log: Path) -> None:
    """`settlement run --date day` in a subprocess (its own interpreter: no GIL shared with the load)."""
    await asyncio.sleep(RERUN_STARTS_AFTER)
    rerun.started = clock()
    with log.open("w") as output:
        rerun.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "settlement.cli", "run", "--date", day.isoformat(),
            env=environment(database_url), cwd=PROJECT_ROOT, stdout=output, stderr=output,
        )  # fmt: skip
        rerun.returncode = await rerun.process.wait()
    rerun.finished = clock()


# The load.


@dataclass
class Answer:
    sent_at: float  # seconds since the load started
    seconds: float
    status: int
    total: int | None = None
    problem: str | None = None


def whole_day_problem(payouts: dict) -> str | None:
    """What is inconsistent in one payouts answer, or None."""
    videos = payouts["videos"]
    if payouts["payout"] != sum(video["payout"] for video in videos):
        return f"total {payouts['payout']} is not the sum of the videos' payouts"
    for video in videos:
        if video["payout"] != video["video_payout"] + video["ad_payout"] + video["adjustment"]:
            return f"video {video['video_id']}: payout is not the sum of its parts"
        if video["ad_payout"] != sum(ad["ad_payout"] for ad in video["ads"]):
            return f"video {video['video_id']}: ad payout is not the sum of its ads'"
    return None


async def read_once(client: httpx.AsyncClient, path: str, params: dict, clock) -> Answer:
    sent_at = clock()
    try:
        response = await client.get(path, params=params)
    except httpx.HTTPError as exc:
        return Answer(sent_at, clock() - sent_at, 0, problem=f"{exc.__class__.__name__}: {exc}")
    answer = Answer(sent_at, clock() - sent_at, response.status_code)
    if response.status_code != 200:
        answer.problem = response.text[:200]
    else:
        payouts = response.json()
        answer.total, answer.problem = payouts["payout"], whole_day_problem(payouts)
    return answer


async def drive(base_url: str, path: str, params: dict, headers: dict, clock, keep_going) -> list[Answer]:
    """Requests at LOAD_RATE per second (open loop: on schedule, not after the previous answer, as
    long as a connection is free), for LOAD_SECONDS and then as long as keep_going(), within the hard
    limits."""
    assert urlsplit(base_url).hostname == LOOPBACK, "load is only ever sent to 127.0.0.1"
    # Idle connections are closed before the server (uvicorn: after 5 s) would close them under a request.
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT, keepalive_expiry=2)
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    tasks = []
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=10) as client:
        for n in range(MAX_REQUESTS):
            due, now = n / LOAD_RATE, clock()
            if now >= HARD_STOP_SECONDS or (now >= LOAD_SECONDS and not keep_going()):
                break
            await asyncio.sleep(max(0.0, due - now))
            await in_flight.acquire()
            task = asyncio.create_task(read_once(client, path, params, clock))
            task.add_done_callback(lambda _: in_flight.release())
            tasks.append(task)
        return list(await asyncio.gather(*tasks))


def milliseconds(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(value * 1000 for value in values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms"


def summary(answers: list[Answer], elapsed: float, rerun: Rerun, totals: tuple[int, int]) -> str:
    """One line; latency is from sending a request to its answer."""
    during = [answer for answer in answers if rerun.started <= answer.sent_at <= rerun.finished]
    errors = sum(answer.status != 200 for answer in answers)
    return (
        f"payouts read while the day is settled again: {len(answers)} requests in {elapsed:.1f} s = "
        f"{len(answers) / elapsed:.0f} req/s (target {LOAD_RATE:.0f}), errors {errors}, "
        f"latency {milliseconds([answer.seconds for answer in answers])}; "
        f"rerun {rerun.seconds:.1f} s, {len(during)} requests during it = {len(during) / rerun.seconds:.0f} req/s, "
        f"latency {milliseconds([answer.seconds for answer in during])}; day total {totals[0]} -> {totals[1]} KRW"
    )


async def test_payouts_stay_whole_and_available_while_the_day_is_settled_again(conn, database_url, tmp_path, report_load):
    settings = EngineSettings(_env_file=None, database_url=database_url)
    day = platform_clock.yesterday(settings.zone)
    seller, first_video = load_day(conn, day, settings.zone)
    assert all(result.succeeded for result in await asyncio.to_thread(run_days, settings, day))
    first_total = settled_total(conn, seller, day)
    ad_payout = conn.execute("SELECT sum(ad_payout) FROM analytics.fct_video_ad_payouts WHERE period = 'day'").fetchone()[0]
    assert ad_payout > 0  # the answers' ads are checked against their videos too
    late_impressions = add_late_views(conn, day, settings.zone, first_video)
    assert late_impressions > 0, "the rerun must change per-ad rows too"

    port = free_port()
    base_url = f"http://{LOOPBACK}:{port}"
    server, rerun = start_api(database_url, port, tmp_path / "api.log"), Rerun()
    try:
        await asyncio.to_thread(wait_until_serving, server, f"{base_url}/openapi.json", tmp_path / "api.log")
        session_id = conn.execute(
            "INSERT INTO auth_sessions (user_id, expires_at) VALUES (%s, settlement_now() + interval '1 day') RETURNING id::text",
            (seller,),
        ).fetchone()[0]
        token, _ = access_token(ApiSettings(_env_file=None, database_url=database_url), JWT_SECRET, seller, session_id)
        load_started = time.perf_counter()
        clock = lambda: time.perf_counter() - load_started  # noqa: E731
        rerun_task = asyncio.create_task(rerun_day(database_url, day, clock, rerun, tmp_path / "rerun.log"))
        answers = await drive(
            base_url,
            f"/sellers/{seller}/payouts",
            {"period": "day", "date": day.isoformat()},
            {"Authorization": f"Bearer {token}"},
            clock,
            keep_going=lambda: rerun.finished is None or clock() < rerun.finished + AFTER_RERUN_SECONDS,
        )
        elapsed = clock()
        await asyncio.wait_for(rerun_task, timeout=HARD_STOP_SECONDS - elapsed + 5)
    finally:
        rerun.stop()
        server.terminate()
        server.wait(timeout=30)

    assert rerun.returncode == 0, (tmp_path / "rerun.log").read_text()
    second_total = settled_total(conn, seller, day)
    assert second_total > first_total + LATE_VIEWS  # tier 1: 1 KRW a view, and the ads' share on top
    report_load(summary(answers, elapsed, rerun, (first_total, second_total)))

    problems = Counter(f"{answer.status} {answer.problem}" for answer in answers if answer.problem)
    assert not problems, f"{sum(problems.values())} bad answers: {problems.most_common(5)}"
    seen = Counter(answer.total for answer in answers)
    assert set(seen) <= {first_total, second_total}, f"totals other than {first_total} or {second_total}: {seen}"
    assert rerun.finished <= elapsed, "the rerun outlasted the load: raise SETTLEMENT_LOAD_SECONDS"
    assert all(a.total == first_total for a in answers if a.sent_at + a.seconds < rerun.started)
    assert all(a.total == second_total for a in answers if a.sent_at > rerun.finished)
    assert sum(rerun.started <= a.sent_at <= rerun.finished for a in answers) >= 10, "too few reads during the rerun"
    assert seen[first_total] and seen[second_total]
