"""`settlement generate`: synthetic users, videos, ads and days of watch events, loaded with COPY."""

import datetime as dt
from typing import Any

import click

from settlement import db, migrations
from settlement.commands import DATE, UsageProblem, open_database
from settlement.config import get_settings
from settlement.generate import GenerateConfig, generate
from settlement.generate.config import VIDEO_POPULARITY_EXPONENT


def count(text: str) -> int:
    """A count such as 5000, 5_000, 250k or 2M; ValueError otherwise."""
    cleaned = text.strip().replace("_", "").replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(cleaned[-1:].lower(), 1)
    try:
        value = int(float(cleaned[:-1]) * scale) if scale > 1 else int(cleaned)
    except ValueError:
        raise ValueError(f"not a count: {text!r} (e.g. 5000, 250k, 2M)") from None
    if value < 0:
        raise ValueError(f"a count cannot be negative: {text!r}")
    return value


class CountParam(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.4 on; subscripted, it fails on 8.2-8.3
    name = "COUNT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return count(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


COUNT = CountParam()


@click.command(
    "generate",
    short_help="Append synthetic users, videos, ads and days of watch events.",
    help="""Append synthetic users, videos, ads and days of watch events, loaded with COPY
    (deterministic for a seed). Migrates the database first.""",
)
@click.option("--videos", type=COUNT, default=200, show_default=True, help="New videos.")
@click.option("--users", type=COUNT, default=2_000, show_default=True, help="New users, sellers included.")
@click.option("--sellers", type=COUNT, default=None, help="How many of the users sell (default users/20).")
@click.option("--ads", type=COUNT, default=None, help="New ads (default max(5, videos/50)).")
@click.option("--days", type=COUNT, default=3, show_default=True, help="Consecutive platform days of events.")
@click.option("--events-per-day", type=COUNT, default=20_000, show_default=True, help="Watch events per day.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed and options, same data.")
@click.option("--first-day", type=DATE, default=None, help="First platform day (default: the last day is yesterday).")
@click.option(
    "--popularity-exponent",
    type=float,
    default=VIDEO_POPULARITY_EXPONENT,
    show_default=True,
    help="Zipf exponent of the videos' popularity (0: all alike; lower: most videos play).",
)
@click.option(
    "--min-video-minutes",
    type=int,
    default=1,
    show_default=True,
    help="Shortest video (30: every video has 5 ad slots or more, all filled).",
)
@click.option(
    "--attack-share",
    type=float,
    default=0.0,
    show_default=True,
    help="Share of each day's events that is attack traffic the quality gate must turn down or that "
    "earns nothing: bursts, seeks past ad slots, copies of recorded ids, self-views, values at the limits.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def command(
    videos: int,
    users: int,
    sellers: int | None,
    ads: int | None,
    days: int,
    events_per_day: int,
    seed: int,
    first_day: dt.date | None,
    popularity_exponent: float,
    min_video_minutes: int,
    attack_share: float,
    quiet: bool,
) -> None:
    settings = get_settings()
    config = GenerateConfig(
        videos=videos, users=users, days=days, events_per_day=events_per_day, seed=seed,
        sellers=sellers, ads=ads, first_day=first_day, popularity_exponent=popularity_exponent,
        min_video_minutes=min_video_minutes, attack_share=attack_share,
    )  # fmt: skip
    try:
        config = config.resolved(settings.time_zone)
    except ValueError as exc:
        raise UsageProblem(str(exc), "see `settlement generate --help`") from None
    database = open_database(settings, needs_schema=False)
    click.echo(f"database: {db.describe(database.url)} ({database.source})", err=True)
    migrations.upgrade(database.url)
    report = generate(database.url, config, progress=not quiet, settings=settings)
    click.echo("\n".join(report.lines()))
