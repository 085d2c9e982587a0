"""`settlement pay`: a payment run (pay a month's payable statements, write the bank-transfer file), or a
transfer the bank returned."""

from pathlib import Path

import click

from settlement import payments
from settlement.commands import UsageProblem, open_database, settings_on
from settlement.config import get_settings


@click.command(
    "pay",
    short_help="Pay a month's payable statements; or mark a returned transfer.",
    help="""Pay every payable statement of the month (and of earlier months, not paid yet) once: each
    payment is recorded and the bank-transfer file (CSV: statement, seller, holder, bank, account,
    amount, and a control total) is written to --out. Run again, it pays nothing twice (and writes a
    file a killed run left unwritten). A statement of a seller on hold, or without a payout account,
    waits for a later run. --returned STATEMENT marks the transfer of a statement (SELLER-NUMBER, as in
    the file) as returned by the bank: its amount goes back into the seller's balance.""",
)
@click.option("--month", "month_text", metavar="YYYY-MM", help="The month to pay.")
@click.option("--returned", "returned", metavar="STATEMENT", help="A statement whose transfer the bank returned, e.g. 17-3.")
@click.option("--reason", default="returned by the bank", show_default=True, help="Why it was returned (with --returned).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=payments.DEFAULT_FILES_DIR,
    show_default=True,
    help="Where the transfer file is written.",
)
def command(month_text: str | None, returned: str | None, reason: str, out_dir: Path) -> None:
    if bool(month_text) == bool(returned):
        raise UsageProblem("give either --month or --returned", "e.g. settlement pay --month 2026-11, or --returned 17-3")
    settings = get_settings()
    if returned:
        try:
            payments.parse_statement_ref(returned)
        except ValueError as exc:
            raise UsageProblem(str(exc), "name the statement as the transfer file does, e.g. 17-3") from None
        if not 1 <= len(reason.strip()) <= 500:
            raise UsageProblem("the reason must have 1 to 500 characters", "e.g. --reason 'account closed'")
        database = open_database(settings)
        returned_report = payments.mark_returned(settings_on(settings, database), returned, reason.strip())
        click.echo(
            f"returned: statement {returned_report.statement_ref}, {payments.won(returned_report.amount)} "
            f"(paid {returned_report.paid_at:%Y-%m-%d}); back in the seller's balance, on their next statement"
        )
        return
    try:
        month = payments.parse_month(month_text or "")  # (given: exactly one of --month and --returned is)
    except ValueError as exc:
        raise UsageProblem(str(exc), "e.g. settlement pay --month 2026-11") from None
    database = open_database(settings)
    report = payments.pay(settings_on(settings, database), month, out_dir)
    label = payments.month_label(month)
    if report.transfers:
        click.echo(f"paid {label} (run {report.run_id}): {len(report.transfers):,} transfers, {payments.won(report.total)}")
        click.echo(f"  transfer file: {report.file}")
    else:
        paid = f" ({report.already_paid:,} of its statements were paid before)" if report.already_paid else ""
        click.echo(f"nothing to pay for {label} and before{paid}")
    for ref, why in report.skipped:
        click.echo(f"  waits: statement {ref}: {why}")
    for path in report.rewritten:
        click.echo(f"  wrote again a transfer file a run left unwritten: {path}")
