"""The `settlement` command (Click): one subcommand module per concern, under settlement/commands/.

main() is the entry point: it runs the command and turns every failure into one line on stderr,
`error: <what> — <next step>`, with the exit codes of settlement.commands (tracebacks with --verbose).
"""

import logging
import sys
import traceback
import warnings
from importlib import import_module

import click
import psycopg
import pydantic
from click.exceptions import NoArgsIsHelpError

from settlement import closing, db, payments, warehouse
from settlement.commands import (
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Busy,
    CliState,
    CommandError,
    UsageProblem,
)
from settlement.config import ENV_PREFIX

COMMAND_MODULES = ("db", "demo", "run", "close", "statements", "pay", "hold", "dbt", "generate", "serve", "scheduler", "ads")
# Loggers that say too much for an operator unless --verbose: the embedded server's start-up, the
# migration steps, the pipeline's per-day lines (the run command prints its own progress).
CHATTY_LOGGERS = {
    "pgserver": logging.WARNING,
    "alembic": logging.WARNING,
    "settlement.generate": logging.WARNING,
    "settlement.pipeline": logging.ERROR,
}


@click.group(
    name="settlement",
    help="Revenue settlement engine: settle platform days, close paid days, serve the API.",
    epilog=EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)
@click.option("-v", "--verbose", is_flag=True, help="Log more, and show the traceback of a failure.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    ctx.ensure_object(CliState).verbose = verbose
    configure_logging(verbose)


for _name in COMMAND_MODULES:
    cli.add_command(import_module(f"settlement.commands.{_name}").command)


def configure_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)  # also when a host (a test runner) configured logging already
    for name, level in CHATTY_LOGGERS.items():
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else level)
    if not verbose:
        warnings.filterwarnings("ignore", module="platformdirs")  # pgserver's "XDG_RUNTIME_DIR is not set"


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    state = CliState()
    try:
        outcome = cli.main(args=argv, prog_name="settlement", standalone_mode=False, obj=state)
    except NoArgsIsHelpError as exc:  # `settlement` or `settlement db` alone: the help, as Click does
        click.echo(exc.format_message(), err=True)
        return EXIT_USAGE
    except (Exception, KeyboardInterrupt) as exc:  # every failure ends here, as one line
        problem = as_command_error(exc, state)
        if state.verbose and not isinstance(exc, click.UsageError):
            traceback.print_exc()
        click.echo(problem.line(), err=True)
        return problem.exit_code
    return outcome if isinstance(outcome, int) else EXIT_OK


def as_command_error(exc: BaseException, state: CliState) -> CommandError:
    """Any failure, as the one line an operator reads and its exit code."""
    where = f" ({db.describe(state.database.url)})" if state.database else ""
    match exc:
        case CommandError():
            return exc
        case click.UsageError():
            command = exc.ctx.command_path if exc.ctx else "settlement"
            return UsageProblem(exc.format_message().rstrip("."), f"see `{command} --help`")
        case click.Abort() | KeyboardInterrupt():
            return CommandError("interrupted", "a day being settled was not published; run the command again", EXIT_INTERRUPTED)
        case click.ClickException():
            return CommandError(exc.format_message(), "see `settlement --help`", exc.exit_code)
        case db.DatabaseUnavailable():
            return CommandError(exc.what, exc.next_step)
        case warehouse.PipelineBusy():
            return Busy(str(exc), "try again when it has finished")
        case warehouse.DayNotEnded():
            return UsageProblem(str(exc), "settle yesterday or an earlier day")
        case payments.PaymentsBusy():
            return Busy(exc.what, exc.next_step)
        case payments.MonthNotEnded():
            return UsageProblem(exc.what, exc.next_step)
        case payments.PaymentsProblem():
            return CommandError(exc.what, exc.next_step)
        case closing.CannotClose():
            return CommandError(f"cannot close: {exc}", "see `settlement close --help`")
        case psycopg.errors.UndefinedTable() | psycopg.errors.UndefinedFunction():
            return CommandError(
                f"the database{where} has no schema or an older one: {db.first_line(str(exc))}",
                "run `settlement db upgrade` first",
            )
        case psycopg.OperationalError() if state.database:
            return CommandError(
                f"the database{where} failed: {db.first_line(str(exc))}", "check that it is up, then run the command again"
            )
        case psycopg.Error():
            return CommandError(f"database error{where}: {db.first_line(str(exc))}", "run with --verbose for the details")
        case pydantic.ValidationError():
            return CommandError(f"a setting is invalid: {describe_invalid_settings(exc)}", "fix it in the environment or .env")
        case _:
            detail = db.first_line(str(exc)) or type(exc).__name__
            return CommandError(f"{type(exc).__name__}: {detail}", "run with --verbose for the traceback")


def describe_invalid_settings(exc: pydantic.ValidationError) -> str:
    """Each invalid setting by its environment variable (a setting read under an alias is named by it)."""
    return "; ".join(f"{environment_name(error['loc'])}: {error['msg']}" for error in exc.errors())


def environment_name(loc: tuple[int | str, ...]) -> str:
    name = "_".join(str(part) for part in loc)
    return name if name.isupper() else f"{ENV_PREFIX}{name.upper()}"


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
