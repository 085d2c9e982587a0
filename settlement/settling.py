"""What a settling command plans and says: the days a run will settle, the plan in one line, and a settled
day's summary. Shared by `settlement run` and `settlement demo` (the CLI prints these lines)."""

import datetime as dt

import psycopg
from psycopg import sql

from settlement import pipeline
from settlement import rebuild as rebuilding
from settlement.config import EngineSettings
from settlement.db import one_row
from settlement.warehouse import relation


def planned_days(
    conn: psycopg.Connection, first: dt.date, last: dt.date, settings: EngineSettings, rebuild: bool
) -> list[dt.date]:
    """The days the run will settle, in order: a rebuild settles every day, from the first with events."""
    if rebuild:
        return rebuilding.plan(conn, first, last, settings)
    return pipeline.plan_days(conn, first, last, settings)


def describe_plan(plan: list[dt.date], first: dt.date, last: dt.date, rebuild: bool) -> str:
    line = f"settling {span(plan[0], plan[-1])}: {len(plan)} day{'s' if len(plan) != 1 else ''}"
    if rebuild:
        return line + " (rebuild: every day is settled again beside the published results, then swapped in at once)"
    notes = []
    if plan[0] < first:
        notes.append(
            f"{span(plan[0], first - dt.timedelta(days=1))} first: not settled yet, settled again before it, or events arrived after they were"
        )
    if plan[-1] > last:
        notes.append(
            f"{span(last + dt.timedelta(days=1), plan[-1])} after: settled before, their numbers follow from the days before them"
        )
    return line + (f" ({'; '.join(notes)})" if notes else "")


def span(first: dt.date, last: dt.date) -> str:
    return str(first) if first == last else f"{first} .. {last}"


def day_summary(conn: psycopg.Connection, day: dt.date) -> list[str]:
    """A settled day in a few lines: its total payout, what the quality gate counted and turned down, and
    the platform's top 5 videos by views and by watch time."""
    total, videos = one_row(
        conn.execute(
            sql.SQL("SELECT coalesce(sum(payout), 0), count(*) FROM {} WHERE settled_on = %s").format(
                relation("fct_video_daily")
            ),
            (day,),
        )
    )
    lines = [f"\n{day}: total payout {int(total):,} KRW over {videos:,} videos"]
    for source, ingested, counted, by_reason in conn.execute(
        sql.SQL(
            """SELECT source, ingested, counted, quarantined_by_reason FROM {}
               WHERE settled_on = %s ORDER BY source DESC"""
        ).format(relation("fct_event_intake_daily")),
        (day,),
    ):
        quarantined = ", ".join(f"{reason} {count:,}" for reason, count in sorted(by_reason.items())) or "none"
        lines.append(f"{source}: {ingested:,} in, {counted:,} counted, quarantined: {quarantined}")
    for metric, label in (("views", "views"), ("watch_time", "watch time")):
        lines.append(f"top 5 by {label}:")
        rows = conn.execute(
            sql.SQL(
                """SELECT rank, video_id, views, watch_seconds FROM {}
                   WHERE period = 'day' AND period_start = %s AND scope = 'platform' AND metric = %s
                   ORDER BY rank"""
            ).format(relation("rpt_top_videos")),
            (day, metric),
        ).fetchall()
        for rank, video_id, views, watch_seconds in rows:
            lines.append(f"  {rank}. video {video_id:<8} {views:>9,} views {watch_seconds:>12,} s watched")
    return lines
