import datetime as dt
import os
from collections import defaultdict
import re
import subprocess
import sys

import psycopg

from settlement.commands.demo import DEMO_DAY
from settlement.config import PROJECT_ROOT
from tests.engine.scenario import Event, Impression, Platform, Video, reference_intake, reference_settlement


def demo_platform(url: str) -> Platform:
    """The demo database's source rows, as the reference implementation reads them: every event sent,
    copies included, in the order they arrived."""
    platform = Platform(conn=None)
    with psycopg.connect(url) as conn:
        platform.events = [
            Event(*row) for row in conn.execute(
                """SELECT event_id, kind, user_id, video_id, occurred_at, position_seconds, watched_seconds, received_at
                   FROM watch_events ORDER BY received_at, event_id""")
        ]
        platform.impressions = [
            Impression(*row) for row in conn.execute(
                """SELECT event_id, user_id, video_id, ad_id, slot, occurred_at, received_at
                   FROM ad_impressions ORDER BY received_at, event_id""")
        ]
        periods = defaultdict(list)
        for video_id, live_from, live_until in conn.execute("SELECT video_id, live_from, live_until FROM video_live_periods"):
            periods[video_id].append((live_from, live_until))
        platform.videos = {
            row[0]: Video(row[1], row[2], periods[row[0]])
            for row in conn.execute("SELECT id, seller_id, duration_seconds FROM videos")
        }
        platform.ads = {row[0]: row[1:] for row in conn.execute("SELECT id, contract_start, contract_end FROM ads")}
        assert conn.execute("SELECT count(*) FROM duplicate_events").fetchone()[0] == 0  # the generator sends none
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

    demo_url = re.search(r"^explore: DATABASE_URL=(\S+) ", out, re.MULTILINE).group(1)
    settled_days = [dt.date.fromisoformat(day) for day in re.findall(r"^settled (\S+): SUCCEEDED", out, re.MULTILINE)]
    expected, _ = reference_settlement(demo_platform(demo_url), settled_days)
    day_rows = [row for (day, _), row in expected.items() if day == DEMO_DAY]
    total = sum(row["payout"] for row in day_rows)
    assert total > 0 and len(day_rows) > 100  # the demo day is not trivially empty
    assert f"{DEMO_DAY}: total payout {total:,} KRW over {len(day_rows):,} videos" in out
    assert out.count("  1. video") == 2 and out.count("  5. video") == 2
    # what came in, what counted and what was quarantined per reason, as the reference judges it
    for source, (ingested, counted, by_reason) in reference_intake(demo_platform(demo_url), DEMO_DAY).items():
        quarantined = ", ".join(f"{reason} {n:,}" for reason, n in sorted(by_reason.items())) or "none"
        assert f"{source}: {ingested:,} in, {counted:,} counted, quarantined: {quarantined}" in out

