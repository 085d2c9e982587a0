"""`settlement run`: settle a day (yesterday by default) or a range of days.

It plans first (the days that must be settled before the range, then the range), prints the plan, asks
for --yes when it is longer than SETTLEMENT_RUN_CONFIRM_DAYS, then settles day by day with progress."""

import datetime as dt
import time

import click
import psycopg

from settlement import pipeline, warehouse
from settlement import rebuild as rebuilding
from settlement.commands import DATE, CommandError, UsageProblem, open_database, settings_on
from settlement.config import Settings, get_settings


@click.command(
    "run",
    short_help="Settle a platform day (default: yesterday) or a range of days.",
    help="""Settle a platform day (default: yesterday) or a range of days.

    Days are settled in order: the days that must come first (not settled yet, or with late events)
    are settled before the ones asked for. Only days that have ended in the platform time zone can be
    settled. A plan longer than SETTLEMENT_RUN_CONFIRM_DAYS (7) days needs --yes.""",
)
@click.option("--date", type=DATE, help="The day to settle.")
@click.option("--from", "first", type=DATE, help="First day of a range (alone: through yesterday).")
@click.option("--to", "last", type=DATE, help="Last day of a range.")
@click.option(
    "--rebuild", is_flag=True,
    help="Settle every day again beside the published results, then swap them in at once (after a model's "
    "columns or the rules changed; closed days stay as paid).",
)
@click.option("-y", "--yes", is_flag=True, help="Settle a plan longer than the bound without asking.")
def command(date, first, last, rebuild: bool, yes: bool) -> None:
    settings = get_settings()
    first, last = requested_range(date, first, last, settings)
    database = open_database(settings)
    settings = settings_on(settings, database)
    with database.connect(autocommit=True) as conn:
        plan = planned_days(conn, first, last, settings, rebuild)
    click.echo(describe_plan(plan, first, last, rebuild))
    if len(plan) > settings.run_confirm_days and not yes:
        raise UsageProblem(
            f"{len(plan)} days to settle, more than {settings.run_confirm_days} (SETTLEMENT_RUN_CONFIRM_DAYS)",
            f"to go ahead: {confirmed_command(date, first, last, rebuild)}",
        )
    settle_with_progress(settings, first, last, plan, rebuild=rebuild)
    with psycopg.connect(database.url) as conn:
        print_day_summary(conn, last)


def settle_with_progress(
    settings: Settings, first: dt.date, last: dt.date, plan: list[dt.date], rebuild: bool = False, trigger: str = "manual"
) -> None:
    """Settles the plan, a line per day; a failed day ends the command (the days before it stay settled,
    or, in a rebuild, nothing changes)."""
    try:
        if rebuild:
            results = rebuilding.rebuild_days(settings, plan, trigger=trigger, on_day=Progress().report)
        else:
            results = pipeline.run_days(settings, first, last, trigger=trigger, on_day=Progress().report, plan=plan)
    except pipeline.RulesRefused as exc:  # "<what> (<next step>)"
        what, _, next_step = str(exc).partition(" (")
        raise UsageProblem(what, next_step.removesuffix(")")) from None
    except rebuilding.RebuildConflict as exc:  # "<what>: <next step>"
        what, _, next_step = str(exc).rpartition("; ")
        raise CommandError(what, next_step) from None
    failed = next((result for result in results if not result.succeeded), None)
    if failed:
        raise CommandError(
            f"settling {failed.run_date} failed (run {failed.run_id}): {' '.join(str(failed.error).split())}",
            "fix the cause and run the same command again; "
            + ("nothing of the rebuild was swapped in" if rebuild else "the days before it are settled"),
        )


def requested_range(date, first, last, settings: Settings) -> tuple[dt.date, dt.date]:
    """The days asked for, checked: one range, in order, of days that have ended."""
    if date and (first or last):
        raise UsageProblem("give either --date or --from/--to, not both", f"e.g. settlement run --date {date}")
    yesterday = pipeline.yesterday(settings)
    if date:
        first = last = date
    elif first:
        last = last or yesterday
    else:
        first = last = last or yesterday
    if first > last:
        raise UsageProblem(f"--from {first} is after --to {last}", f"swap them: settlement run --from {last} --to {first}")
    refuse_unended(first, last, settings)
    return first, last


def refuse_unended(first: dt.date, last: dt.date, settings: Settings) -> None:
    today = warehouse.today(settings.timezone)
    if last < today:
        return
    asked = str(last) if first == last else f"{first} .. {last}"
    what = "today" if last == today else "in the future"
    instead = f"settlement run --date {today - dt.timedelta(days=1)}"
    if first < today - dt.timedelta(days=1):
        instead = f"settlement run --from {first} --to {today - dt.timedelta(days=1)}"
    raise UsageProblem(
        f"cannot settle {asked}: {last} is {what} in {settings.timezone} (today is {today}), and a day can be settled once it has ended",
        f"settle yesterday or earlier: {instead}",
    )


def planned_days(conn: psycopg.Connection, first: dt.date, last: dt.date, settings: Settings, rebuild: bool) -> list[dt.date]:
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
        notes.append(f"{span(plan[0], first - dt.timedelta(days=1))} first: not settled yet, settled again before it, or events arrived after they were")
    if plan[-1] > last:
        notes.append(f"{span(last + dt.timedelta(days=1), plan[-1])} after: settled before, their numbers follow from the days before them")
    return line + (f" ({'; '.join(notes)})" if notes else "")


def span(first: dt.date, last: dt.date) -> str:
    return str(first) if first == last else f"{first} .. {last}"


def confirmed_command(date, first: dt.date, last: dt.date, rebuild: bool) -> str:
    days = f"--date {date}" if date else f"--from {first} --to {last}" if first != last else f"--date {first}"
    return f"settlement run {days}{' --rebuild' if rebuild else ''} --yes"


class Progress:
    """One line per settled day: [n/N] day STATUS seconds (elapsed, estimate of what is left)."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.started = clock()

    def report(self, n: int, total: int, result: pipeline.RunResult) -> None:
        click.echo(self.line(n, total, result))

    def line(self, n: int, total: int, result: pipeline.RunResult) -> str:
        elapsed = self.clock() - self.started
        timing = f"elapsed {duration(elapsed)}"
        if n < total and result.succeeded:
            timing += f", about {duration(elapsed / n * (total - n))} left"
        return f"[{n}/{total}] {result.run_date} {result.status} {duration(result.seconds)} ({timing})"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def print_day_summary(conn: psycopg.Connection, day: dt.date) -> None:
    total, videos = conn.execute(
        "SELECT coalesce(sum(payout), 0), count(*) FROM analytics.fct_video_daily WHERE settled_on = %s", (day,)
    ).fetchone()
    click.echo(f"\n{day}: total payout {int(total):,} KRW over {videos:,} videos")
    for source, ingested, counted, by_reason in conn.execute(
        """SELECT source, ingested, counted, quarantined_by_reason FROM analytics.fct_event_intake_daily
           WHERE settled_on = %s ORDER BY source DESC""",
        (day,),
    ):
        quarantined = ", ".join(f"{reason} {count:,}" for reason, count in sorted(by_reason.items())) or "none"
        click.echo(f"{source}: {ingested:,} in, {counted:,} counted, quarantined: {quarantined}")
    for metric, label in (("views", "views"), ("watch_time", "watch time")):
        click.echo(f"top 5 by {label}:")
        rows = conn.execute(
            """SELECT rank, video_id, views, watch_seconds FROM analytics.rpt_top_videos
               WHERE period = 'day' AND period_start = %s AND scope = 'platform' AND metric = %s
               ORDER BY rank""",
            (day, metric),
        ).fetchall()
        for rank, video_id, views, watch_seconds in rows:
            click.echo(f"  {rank}. video {video_id:<8} {views:>9,} views {watch_seconds:>12,} s watched")
