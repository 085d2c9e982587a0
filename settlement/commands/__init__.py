"""Subcommands of `settlement`: each module here defines one Click command (or group), `command`.

What they share: the exit codes, the errors a command raises to end with one line on stderr
(`error: <what> — <next step>`), the date parameter, opening the database the app uses, and settling
a plan of days with a line per day (`settlement run` and `settlement demo`).
"""

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from settlement import pipeline
from settlement import rebuild as rebuilding
from settlement.config import CommonSettings, EngineSettings

# Names, not the module `db`: the subcommand module settlement.commands.db would shadow it here.
from settlement.db import Database, describe, ensure_reachable, resolve_database
from settlement.migrations import schema_problem

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2  # also Click's own, for unknown options and bad values
EXIT_BUSY = 75  # EX_TEMPFAIL: another run holds the pipeline (or the payments), try again later
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = f"""\b
Exit codes:
  {EXIT_OK:<3} done
  {EXIT_FAILED:<3} failed (the database cannot be used, a day failed to settle, a day cannot be closed,
      a month cannot be issued or paid)
  {EXIT_USAGE:<3} usage: the command cannot run as typed (a bad option or date, a day that has not
      ended, a reversed range, a range longer than the bound without --yes)
  {EXIT_BUSY:<3} busy: another settlement run holds the pipeline (or another payment command the
      payments); try again when it has finished
  {EXIT_INTERRUPTED:<3} interrupted (Ctrl-C)
Every failure is one line on stderr, `error: <what> — <next step>`; --verbose adds the traceback."""


class CommandError(Exception):
    """Ends the command with one line on stderr and an exit code."""

    exit_code = EXIT_FAILED

    def __init__(self, what: str, next_step: str, exit_code: int | None = None):
        super().__init__(what)
        self.what, self.next_step = what, next_step
        if exit_code is not None:
            self.exit_code = exit_code

    def line(self) -> str:
        return f"error: {self.what} — {self.next_step}"


class UsageProblem(CommandError):
    exit_code = EXIT_USAGE


class Busy(CommandError):
    exit_code = EXIT_BUSY


class DateParam(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.4 on; subscripted, it fails on 8.2-8.3
    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.fail(f"not a date (YYYY-MM-DD): {value!r}", param, ctx)


DATE = DateParam()


@dataclass
class CliState:
    """What the whole invocation knows, for the error handler: --verbose, and the database in use."""

    verbose: bool = False
    database: Database | None = None


def cli_state() -> CliState:
    ctx = click.get_current_context(silent=True)
    state = ctx.find_object(CliState) if ctx else None
    return state if state is not None else CliState()


def open_database(settings: CommonSettings, needs_schema: bool = True) -> Database:
    """The database the app uses, reachable, and (needs_schema) migrated to the code's schema."""
    database = resolve_database(settings)
    cli_state().database = database
    ensure_reachable(database)
    if needs_schema:
        problem = schema_problem(database.url)
        if problem:
            raise CommandError(f"{problem} ({describe(database.url)})", "run `settlement db upgrade` first")
    return database


AnySettings = TypeVar("AnySettings", bound=CommonSettings)


def settings_on(settings: AnySettings, database: Database) -> AnySettings:
    """The settings, pinned to a database found once (the engine does not look for it again)."""
    return settings.model_copy(update={"database_url": database.url})


def settle_with_progress(
    settings: EngineSettings, first: dt.date, last: dt.date, plan: list[dt.date], rebuild: bool = False, trigger: str = "manual"
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


class Progress:
    """One line per settled day: [n/N] day STATUS seconds (elapsed, estimate of what is left)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
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
