import datetime as dt
import os
import re
import subprocess
import sys

import psycopg

from settlement.commands.demo import DEMO_DAY
from settlement.config import PROJECT_ROOT
from tests.engine.scenario import Platform, reference_settlement


def demo_platform(url: str) -> Platform:
    """The demo database's source rows, as the reference implementation reads them."""
    platform = Platform(conn=None)
    with psycopg.connect(url) as conn:
        platform.events = conn.execute(
            "SELECT kind, user_id, video_id, occurred_at, watched_seconds FROM watch_events"
        ).fetchall()
        platform.impressions = conn.execute("SELECT user_id, video_id, ad_id, occurred_at FROM ad_impressions").fetchall()
        platform.videos = {row[0]: row[1:] for row in conn.execute("SELECT id, seller_id, duration_seconds FROM videos")}
        platform.ads = {row[0]: row[1:] for row in conn.execute("SELECT id, contract_start, contract_end FROM ads")}
    return platform


def test_demo_settles_a_day_and_prints_the_results(database_url):
    env = {**os.environ, "DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "-m", "settlement.cli", "demo"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"settled {DEMO_DAY}: SUCCEEDED" in out
    assert "quarantined: none" in out  # the reference below assumes every generated event is well-formed

    demo_url = re.search(r"^explore: DATABASE_URL=(\S+) ", out, re.MULTILINE).group(1)
    settled_days = [dt.date.fromisoformat(day) for day in re.findall(r"^settled (\S+): SUCCEEDED", out, re.MULTILINE)]
    expected, _ = reference_settlement(demo_platform(demo_url), settled_days)
    day_rows = [row for (day, _), row in expected.items() if day == DEMO_DAY]
    total = sum(row["payout"] for row in day_rows)
    assert total > 0 and len(day_rows) > 100  # the demo day is not trivially empty
    assert f"{DEMO_DAY}: total payout {total:,} KRW over {len(day_rows):,} videos" in out
    assert out.count("  1. video") == 2 and out.count("  5. video") == 2

