"""The API's playback write latency: a viewer's START then PROGRESS reports, one at a time and from several
clients at once, against `settlement serve` on 127.0.0.1. Prints p50 / p99 / max per phase.

    .venv/bin/python bench/playback.py [--events 2000] [--clients 8] [--database-url URL]

Uses (drops and recreates) the database settlement_bench_playback unless --database-url is given.
"""

import argparse
import asyncio
import datetime as dt
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg

from settlement import clock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import load_average, machine
from settlement import db, migrations
from settlement.config import PROJECT_ROOT, EngineSettings
from tests.servers import free_port

BENCH_DATABASE = "settlement_bench_playback"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(label: str, seconds: list[float], wall: float) -> str:
    ms = [value * 1000 for value in seconds]
    return (
        f"{label:<28} {len(ms):>6} requests, {len(ms) / wall:>7.0f}/s: p50 {statistics.median(ms):6.2f} ms, "
        f"p99 {percentile(ms, 0.99):6.2f} ms, max {max(ms):7.2f} ms"
    )


def verification_token(database_url: str, email: str) -> str:
    """The token of the newest verification link mailed to email (the API writes it to its outbox)."""
    with psycopg.connect(database_url) as conn:
        body = conn.execute(
            "SELECT body FROM email_outbox WHERE recipient = %s ORDER BY id DESC LIMIT 1", (email.lower(),)
        ).fetchone()[0]
    return parse_qs(urlsplit(re.search(r"https?://\S+", body)[0]).query)["token"][0]


async def account(client: httpx.AsyncClient, database_url: str, name: str, seller: bool = False) -> dict:
    """Signs up, follows the verification link with the signup's password (login waits for it) and logs in."""
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
    await client.post("/auth/signup", json={"email": email, "password": "correct horse", "username": name})
    await client.post("/auth/verify-email", json={"token": verification_token(database_url, email), "password": "correct horse"})
    login = await client.post("/auth/login", json={"email": email, "password": "correct horse"})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    if seller:
        await client.post("/me/seller", headers=headers)
    return headers


async def viewer_session(client, headers, video_id: int, start: dt.datetime, events: int, timings: list) -> None:
    """A START, then PROGRESS reports 30 s of play apart, each timed."""
    url = f"/videos/{video_id}/playback"
    position = 0
    for n in range(events):
        body = {"event_id": str(uuid.uuid4()), "occurred_at": (start + dt.timedelta(seconds=30 * n)).isoformat()}
        action = "start" if n == 0 else "progress"
        if n:
            position = min(position + 30, 3500)
            body |= {"position_seconds": position, "watched_seconds": 30}
        began = time.perf_counter()
        response = await client.post(f"{url}/{action}", json=body, headers=headers)
        timings.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise RuntimeError(f"{action}: {response.status_code} {response.text[:200]}")


async def measure(base: str, database_url: str, events: int, clients: int) -> list[str]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        seller = await account(client, database_url, "seller", seller=True)
        video = (
            await client.post(
                "/videos",
                json={"title": "bench", "video_url": "https://cdn.example.com/b.mp4", "duration_seconds": 3600},
                headers=seller,
            )
        ).json()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("UPDATE videos SET created_at = created_at - interval '3 days' WHERE id = %s", (video["id"],))
            if conn.execute("SELECT to_regclass('video_live_periods')").fetchone()[0]:
                conn.execute(
                    "UPDATE video_live_periods SET live_from = live_from - interval '3 days' WHERE video_id = %s", (video["id"],)
                )
        viewers = [await account(client, database_url, f"viewer{n}") for n in range(clients)]
        start = clock.now() - dt.timedelta(hours=30)
        lines = []
        await viewer_session(client, viewers[0], video["id"], start - dt.timedelta(hours=5), 50, [])  # warm up
        sequential: list[float] = []
        began = time.perf_counter()
        await viewer_session(client, viewers[0], video["id"], start, events, sequential)
        lines.append(summary("one client, one at a time", sequential, time.perf_counter() - began))
        concurrent: list[float] = []
        began = time.perf_counter()
        await asyncio.gather(
            *(
                viewer_session(client, headers, video["id"], start + dt.timedelta(hours=2), events // clients, concurrent)
                for headers in viewers
            )
        )
        lines.append(summary(f"{clients} clients at once", concurrent, time.perf_counter() - began))
        return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url")
    args = parser.parse_args(argv)
    url = args.database_url
    if not url:
        server, _ = db.server_url(EngineSettings())
        db.drop_database(server, BENCH_DATABASE)
        db.create_database_if_missing(server, BENCH_DATABASE)
        url = db.with_database(server, BENCH_DATABASE)
    migrations.upgrade(url)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SETTLEMENT_JWT_SECRET": "bench-" + uuid.uuid4().hex,
        "SETTLEMENT_LOGIN_ATTEMPTS_PER_MINUTE": "100000",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        cwd=PROJECT_ROOT, env=env,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the API did not come up") from None
                time.sleep(0.2)
        print(f"machine: {machine()}; load average before: {load_average()}")
        for line in asyncio.run(measure(base, url, args.events, args.clients)):
            print(line)
        print(f"load average after: {load_average()}")
    finally:
        server.terminate()
        server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
