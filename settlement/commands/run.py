"""`settlement run`: settle a day (yesterday by default) or a range of days."""

import argparse
import sys

import psycopg

from settlement import db, pipeline
from settlement.commands import parse_date
from settlement.config import get_settings


def cmd_run(args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.date and (args.first or args.last):
        raise SystemExit("error: give either --date or --from/--to, not both")
    first = args.date or args.first or args.last or pipeline.yesterday(settings)
    last = args.date or args.last or first
    if first > last:
        raise SystemExit(f"error: --from {first} is after --to {last}")
    try:
        results = pipeline.run_days(settings, first, last, rebuild=args.rebuild)
    except pipeline.PipelineBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 75  # EX_TEMPFAIL: try again later
    for result in results:
        rows = sum(result.row_counts.values())
        print(f"{result.run_date}  {result.status:<9} {result.seconds:7.2f} s  {rows:>10} rows written")
        if result.error:
            print(f"  {result.error}", file=sys.stderr)
    if results and results[-1].succeeded:
        with psycopg.connect(db.resolve_database(settings).url) as conn:
            print_day_summary(conn, last)
    return 0 if results and all(result.succeeded for result in results) else 1


def print_day_summary(conn: psycopg.Connection, day) -> None:
    total, videos = conn.execute(
        "SELECT coalesce(sum(payout), 0), count(*) FROM analytics.fct_video_daily WHERE settled_on = %s", (day,)
    ).fetchone()
    print(f"\n{day}: total payout {int(total):,} KRW over {videos:,} videos")
    for source, ingested, counted, by_reason in conn.execute(
        """SELECT source, ingested, counted, quarantined_by_reason FROM analytics.fct_event_intake_daily
           WHERE settled_on = %s ORDER BY source DESC""",
        (day,),
    ):
        quarantined = ", ".join(f"{reason} {count:,}" for reason, count in sorted(by_reason.items())) or "none"
        print(f"{source}: {ingested:,} in, {counted:,} counted, quarantined: {quarantined}")
    for metric, label in (("views", "views"), ("watch_time", "watch time")):
        print(f"top 5 by {label}:")
        rows = conn.execute(
            """SELECT rank, video_id, views, watch_seconds FROM analytics.rpt_top_videos
               WHERE period = 'day' AND period_start = %s AND scope = 'platform' AND metric = %s
               ORDER BY rank""",
            (day, metric),
        ).fetchall()
        for rank, video_id, views, watch_seconds in rows:
            print(f"  {rank}. video {video_id:<8} {views:>9,} views {watch_seconds:>12,} s watched")


def register(commands) -> None:
    run = commands.add_parser("run", help="settle a platform day (default: yesterday) or a range of days")
    run.add_argument("--date", type=parse_date, help="the day to settle (YYYY-MM-DD)")
    run.add_argument("--from", dest="first", type=parse_date, help="first day of a range")
    run.add_argument("--to", dest="last", type=parse_date, help="last day of a range")
    run.add_argument(
        "--rebuild", action="store_true",
        help="drop what the pipeline built and settle every day with data again (after a model change)",
    )
    run.set_defaults(func=cmd_run)
