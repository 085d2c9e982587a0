"""How long the seller studio takes to show a month for a seller with 1,000 videos.

    .venv/bin/python bench/studio.py [--videos 1000] [--events-per-day 40000] [--month 2026-10] [--database-url URL]

1. A fresh database (settlement_bench_studio, dropped and recreated; --database-url uses a given one as
   it is): one seller owning --videos videos, every day of --month generated (settlement.generate with
   sellers=1), settled in order (settlement.pipeline.run_days), the first half of the month closed.
2. The API under uvicorn on 127.0.0.1; the studio's pages for the month, a week and a day of it read
   --requests times each over HTTP, signed in: the server's own time (the page's Server-Timing header:
   reading the results and rendering) and the whole answer at the client.
3. The month page loaded --loads times in Debian's headless chromium (Playwright, the system executable):
   the navigation timing's response end, DOMContentLoaded and load event.
"""

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from settlement import clock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.studio import demo_login
from bench.run import load_average, machine, server_summary
from settlement import closing, db, generate, migrations
from settlement.config import PROJECT_ROOT, get_settings
from settlement.pipeline import run_days
from tests.api.test_studio_browser import CHROMIUM, CHROMIUM_ARGS
from tests.servers import free_port

BENCH_DATABASE = "settlement_bench_studio"
PASSWORD = "bench-studio"


def last_full_month(today: dt.date) -> str:
    return f"{(today.replace(day=1) - dt.timedelta(days=1)):%Y-%m}"


def prepare(url: str, videos: int, events_per_day: int, month: str) -> list[dt.date]:
    settings = get_settings().model_copy(update={"database_url": url})
    days = closing.days_of_month(month)
    migrations.upgrade(url)
    config = generate.GenerateConfig(
        videos=videos, users=max(5_000, events_per_day // 4), sellers=1, days=len(days),
        events_per_day=events_per_day, seed=14, first_day=days[0],
    )  # fmt: skip
    started = time.perf_counter()
    report = generate.generate(url, config, progress=False, settings=settings)
    print(f"generated {report.rows['watch_events']:,} events over {len(days)} days in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    results = run_days(settings, days[0], days[-1], trigger="bench")
    assert all(result.succeeded for result in results), results[-1].error
    print(f"settled {len(results)} days in {time.perf_counter() - started:.0f} s")
    closing.close_days(settings, days[: len(days) // 2])
    return days


def start_api(url: str, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "SETTLEMENT_JWT_SECRET": "b" * 32}
    command = [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--no-access-log", "--log-level", "warning"]  # fmt: skip
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=output, stderr=output)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/studio/login", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the API did not start: {log.read_text()}")
        time.sleep(0.2)


def milliseconds(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"median {statistics.median(ordered):.0f} ms, p90 {p90:.0f} ms, max {ordered[-1]:.0f} ms"


def read_pages(base_url: str, email: str, pages: dict[str, str], requests: int) -> None:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        signed_in = client.post("/studio/login", data={"email": email, "password": PASSWORD})
        assert signed_in.status_code == 303, signed_in.text
        for name, path in pages.items():
            client.get(path)  # warm: the connection pool, the templates, the cache
            server, total = [], []
            for _ in range(requests):
                started = time.perf_counter()
                response = client.get(path)
                total.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text[:500]
                server.append(float(re.search(r"dur=([\d.]+)", response.headers["server-timing"]).group(1)))
            rows = response.text.count('class="video"')
            print(
                f"  {name:<6} {len(response.content) / 1024:,.0f} KiB, {rows:,} video rows: server {milliseconds(server)}; "
                f"at the client {milliseconds(total)}"
            )


async def load_in_browser(base_url: str, email: str, path: str, loads: int) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(base_url=base_url, viewport={"width": 1280, "height": 900})
        await page.goto("/studio/login")
        await page.fill("input[name=email]", email)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_selector("#summary")
        timings = {"response end": [], "DOMContentLoaded": [], "load": []}
        for _ in range(loads):
            await page.goto(path, wait_until="load")
            navigation = await page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")
            entry = json.loads(navigation)
            timings["response end"].append(entry["responseEnd"] - entry["startTime"])
            timings["DOMContentLoaded"].append(entry["domContentLoadedEventEnd"] - entry["startTime"])
            timings["load"].append(entry["loadEventEnd"] - entry["startTime"])
        await browser.close()
    for name, values in timings.items():
        print(f"  {name:<17} {milliseconds(values)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--events-per-day", type=int, default=40_000)
    parser.add_argument("--month", default=None, help="YYYY-MM (default: the last full month)")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--database-url", default=None, help="use this database as it is (already prepared)")
    args = parser.parse_args()
    settings = get_settings()
    month = args.month or last_full_month(clock.today(settings.zone))
    print(f"machine: {machine()}; load average {load_average()}")
    if args.database_url:
        url = args.database_url
    else:
        server, _ = db.server_url(settings)
        db.drop_database(server, BENCH_DATABASE)
        db.create_database_if_missing(server, BENCH_DATABASE)
        url = db.with_database(server, BENCH_DATABASE)
        prepare(url, args.videos, args.events_per_day, month)
    print(server_summary(url))
    email, _ = demo_login.seller_login(url, PASSWORD)
    middle = f"{month}-15"
    port = free_port()
    log = Path(tempfile.gettempdir()) / f"bench_studio_{port}.log"
    process = start_api(url, port, log)
    try:
        base_url = f"http://127.0.0.1:{port}"
        print(f"studio pages over HTTP ({args.requests} requests each), load average {load_average()}:")
        pages = {p: f"/studio?period={p}&date={middle}" for p in ("month", "week", "day")}
        read_pages(base_url, email, pages, args.requests)
        print(f"the month page in headless chromium ({args.loads} loads), load average {load_average()}:")
        asyncio.run(load_in_browser(base_url, email, pages["month"], args.loads))
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
