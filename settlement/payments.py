"""Payments (SPEC.md "Payments"): issuing a month's statements, payment runs, returned transfers, holds.

What is issued or paid is recorded in the tables of migration 0060, each command in one transaction under
the payments lock (warehouse.Lock.PAYMENTS, taken without waiting: a second command at the same time is
refused as busy). The figures come from the dbt project's views (models/payments/): a statement is the
row fct_statement_drafts computes for the seller and month, copied unchanged, as closing copies a day's
published payouts. So there is one computation of a statement, in SQL, and what sellers read is the same
rows.

Crash safety: a command changes the database in one transaction, so a killed run records all of its
batch or none of it. The bank-transfer file of a payment run is kept whole in payment_runs (it is written
in the same transaction as the payments) and written to disk after the commit; a run killed between the
two is paid, and `settlement pay --month` again writes its missing file from the database, paying
nothing twice.
"""

import calendar
import csv
import datetime as dt
import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from settlement import clock, db, warehouse
from settlement.config import CommonSettings

STATEMENT_REF = re.compile(r"^([1-9][0-9]{0,18})-([1-9][0-9]{0,8})$")
CSV_COLUMNS = ("statement", "seller", "holder", "bank", "account", "amount")
# A cell a spreadsheet would read as a formula (CWE-1236): written with a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
DEFAULT_FILES_DIR = Path("payment-files")


class PaymentsProblem(Exception):
    """A payment command that cannot be done as asked: what, and the next step."""

    def __init__(self, what: str, next_step: str):
        super().__init__(what)
        self.what, self.next_step = what, next_step


class PaymentsBusy(PaymentsProblem):
    """Another payment command holds the payments lock."""


class MonthNotEnded(PaymentsProblem):
    """A month that has not ended in the platform's time zone."""


class NotBuilt(PaymentsProblem):
    """The payments models have not been built on this database yet."""


# ----------------------------------------------------------------------------------------------------
# Months and references


def parse_month(text: str) -> dt.date:
    """The first day of a YYYY-MM month; ValueError otherwise."""
    match = re.fullmatch(r"([0-9]{4})-([0-9]{2})", text or "")
    if not match:
        raise ValueError(f"not a month (YYYY-MM): {text!r}")
    year, month = int(match[1]), int(match[2])
    if not (year >= 1 and 1 <= month <= 12):
        raise ValueError(f"not a month (YYYY-MM): {text!r}")
    return dt.date(year, month, 1)


def month_end(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def month_label(month: dt.date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def parse_statement_ref(text: str) -> tuple[int, int]:
    """(seller_id, number) of a statement reference "17-3"; ValueError otherwise."""
    match = STATEMENT_REF.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a statement (SELLER-NUMBER, e.g. 17-3): {text!r}")
    return int(match[1]), int(match[2])


def won(amount: Decimal | int) -> str:
    return f"{int(amount):,} KRW"


# ----------------------------------------------------------------------------------------------------
# The lock and the models


def _take_lock(conn: psycopg.Connection) -> None:
    """The payments lock, for this transaction, or PaymentsBusy at once."""
    taken = db.one_row(
        conn.execute(sql.SQL("SELECT pg_try_advisory_xact_lock({})").format(warehouse.lock_key_sql(warehouse.Lock.PAYMENTS)))
    )[0]
    if not taken:
        raise PaymentsBusy("another payment command (statements, pay, hold) is running", "try again when it has finished")


def _publish(conn: psycopg.Connection) -> None:
    """Last in a command's transaction: the publish lock, as a settlement run's publish takes it. Readers of
    results hold it shared for their whole transaction (api.database), so a request that reads a balance
    and the statements sees a statement run, a payment run or a return all before or all after it."""
    conn.execute(sql.SQL("SELECT pg_advisory_xact_lock({})").format(warehouse.lock_key_sql(warehouse.Lock.PUBLISH)))


def _require_models(conn: psycopg.Connection) -> None:
    missing = db.one_row(conn.execute("SELECT to_regclass(%s) IS NULL", (f"{warehouse.ANALYTICS_SCHEMA}.fct_statement_drafts",)))[
        0
    ]
    if missing:
        raise NotBuilt(
            "the payments models are not built on this database yet",
            "settle a day first (`settlement run`, or `dbt build`): it builds them",
        )


def _connect(settings: CommonSettings) -> psycopg.Connection:
    return psycopg.connect(db.resolve_database(settings).url, autocommit=True)


# ----------------------------------------------------------------------------------------------------
# Statements


@dataclass(frozen=True)
class IssueReport:
    month: dt.date
    statements: int
    payable: int
    payable_total: Decimal
    carried: int
    carried_total: Decimal
    withheld_total: Decimal
    days: int
    returns: int


ISSUE_SQL = warehouse.analytics_sql("""
WITH drafts AS (
    SELECT * FROM {fct_statement_drafts} WHERE month = %(month)s
),
issued_month AS (
    INSERT INTO payment_months (month, statements) SELECT %(month)s, count(*) FROM drafts RETURNING month
),
days AS (
    INSERT INTO stated_days (day, month) SELECT day, month FROM {int_statement_draft_days} RETURNING day
),
statements AS (
    INSERT INTO payment_statements (
        seller_id, number, month, carried_in, returned_in, payouts, adjustments, gross, income_tax,
        local_income_tax, withholding, net, payable, amount_payable, carried_out, carry_reason, seller_kind,
        business_number, income_tax_rate, local_income_tax_rate, income_tax_unit, local_income_tax_unit,
        threshold, payout_account_id)
    SELECT seller_id, statement_number, month, carried_in, returned_in, payouts, adjustments, gross, income_tax,
        local_income_tax, withholding, net, payable, amount_payable, carried_out, carry_reason, seller_kind,
        business_number, income_tax_rate, local_income_tax_rate, income_tax_unit, local_income_tax_unit,
        threshold, payout_account_id
    FROM drafts
    RETURNING id, seller_id, payable, amount_payable, carried_out, withholding
),
taken_returns AS (
    INSERT INTO statement_returns (return_id, statement_id)
    SELECT r.return_id, s.id FROM {int_statement_draft_returns} r JOIN statements s ON s.seller_id = r.seller_id
    RETURNING return_id
)
SELECT
    (SELECT count(*) FROM statements),
    (SELECT count(*) FROM statements WHERE payable),
    (SELECT coalesce(sum(amount_payable), 0) FROM statements),
    (SELECT count(*) FROM statements WHERE NOT payable),
    (SELECT coalesce(sum(carried_out), 0) FROM statements),
    (SELECT coalesce(sum(withholding), 0) FROM statements),
    (SELECT count(*) FROM days),
    (SELECT count(*) FROM taken_returns),
    (SELECT count(*) FROM issued_month)
""")


def issue_statements(settings: CommonSettings, month: dt.date) -> IssueReport:
    """Issues every seller's statement for `month`, all or none: the month must have ended, every day of
    it be closed (from the platform's first settled day), and the months before it be issued."""
    today = clock.today(settings.time_zone)
    if month_end(month) >= today:
        raise MonthNotEnded(
            f"cannot issue {month_label(month)}: it has not ended in {settings.time_zone} (today is {today})",
            "issue a month once every day of it is closed",
        )
    with _connect(settings) as conn, conn.transaction():
        _take_lock(conn)
        _require_models(conn)
        issued = conn.execute("SELECT issued_at, statements FROM payment_months WHERE month = %s", (month,)).fetchone()
        if issued:
            raise PaymentsProblem(
                f"{month_label(month)} was issued already ({issued[1]} statements, {issued[0]:%Y-%m-%d %H:%M %Z})",
                "nothing to do; an issued statement never changes, later adjustments land on the next one",
            )
        upcoming = conn.execute(
            warehouse.analytics_sql("SELECT month, open_days, first_open_day, last_open_day FROM {int_statement_next}")
        ).fetchone()
        if upcoming is None:
            raise PaymentsProblem(
                f"cannot issue {month_label(month)}: no day is closed yet",
                "close the month's days first: settlement close --month",
            )
        next_month, open_days, first_open, last_open = upcoming
        if month < next_month:
            raise PaymentsProblem(
                f"cannot issue {month_label(month)}: it comes before the first month with a closed day ({month_label(next_month)})",
                f"issue {month_label(next_month)}",
            )
        if month > next_month:
            raise PaymentsProblem(
                f"cannot issue {month_label(month)} before {month_label(next_month)}: months are issued in order",
                f"issue {month_label(next_month)} first: settlement statements --month {month_label(next_month)}",
            )
        if open_days:
            days = str(first_open) if open_days == 1 else f"{open_days} days, {first_open} .. {last_open}"
            raise PaymentsProblem(
                f"cannot issue {month_label(month)}: not every day of it is closed (open: {days})",
                f"close them first: settlement close --month {month_label(month)} (settle them first if they are not)",
            )
        row = db.one_row(conn.execute(ISSUE_SQL, {"month": month}))
        _publish(conn)
        return IssueReport(month, *row[:8])


# ----------------------------------------------------------------------------------------------------
# Payment runs


@dataclass(frozen=True)
class Transfer:
    statement_ref: str
    seller_id: int
    holder: str
    bank_code: str
    account_number: str
    amount: Decimal


@dataclass
class PayReport:
    month: dt.date
    run_id: int | None = None
    transfers: list[Transfer] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (statement ref, why)
    already_paid: int = 0
    file: Path | None = None
    rewritten: list[Path] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((transfer.amount for transfer in self.transfers), Decimal(0))


def csv_cell(value: object) -> str:
    """A value as a CSV cell that no spreadsheet runs as a formula: text starting like one (=, +, -, @, a
    tab or a line break) gets a leading apostrophe; a number is written as it is (-1000 is no formula)."""
    if isinstance(value, int | Decimal):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_csv(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    return out.getvalue()


def transfer_file(transfers: list[Transfer]) -> str:
    """The bank-transfer file: one row per transfer, then the control total (count and sum)."""
    total = sum((transfer.amount for transfer in transfers), Decimal(0))
    rows: list[tuple[str, int | str, str, str, str, int]] = [
        (t.statement_ref, t.seller_id, t.holder, t.bank_code, t.account_number, int(t.amount)) for t in transfers
    ]
    rows.append(("CONTROL TOTAL", f"{len(transfers)} transfers", "", "", "", int(total)))
    return write_csv(CSV_COLUMNS, rows)


def file_name(month: dt.date, run_id: int) -> str:
    return f"transfers-{month_label(month)}-run{run_id}.csv"


CANDIDATES_SQL = """
SELECT s.id, s.seller_id, s.number, s.amount_payable
FROM payment_statements s
WHERE s.payable AND s.month <= %s AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.statement_id = s.id)
ORDER BY s.month, s.seller_id
"""


def pay(settings: CommonSettings, month: dt.date, out_dir: Path = DEFAULT_FILES_DIR) -> PayReport:
    """Pays every payable statement of `month` and earlier months not paid yet, once: the payments and
    the run's record (with its transfer file) in one transaction, then the file on disk. A statement
    whose seller is on hold, or has no payout account now (or one the bank returned a transfer to),
    waits for a later run."""
    report = PayReport(month)
    with _connect(settings) as conn:
        with conn.transaction():
            _take_lock(conn)
            if conn.execute("SELECT 1 FROM payment_months WHERE month = %s", (month,)).fetchone() is None:
                raise PaymentsProblem(
                    f"cannot pay {month_label(month)}: its statements are not issued",
                    f"issue them first: settlement statements --month {month_label(month)}",
                )
            report.already_paid = db.one_row(
                conn.execute(
                    "SELECT count(*) FROM payments p JOIN payment_statements s ON s.id = p.statement_id WHERE s.month = %s",
                    (month,),
                )
            )[0]
            candidates = conn.execute(CANDIDATES_SQL, (month,)).fetchall()
            run_id = db.one_row(conn.execute("SELECT nextval(pg_get_serial_sequence('payment_runs', 'id'))"))[0]
            for statement_id, seller_id, number, amount in candidates:
                ref = f"{seller_id}-{number}"
                # the statement, locked while its payment is recorded (the unique statement_id is the last word)
                conn.execute("SELECT id FROM payment_statements WHERE id = %s FOR UPDATE", (statement_id,))
                account = _why_not_payable(conn, seller_id)
                if isinstance(account, str):
                    report.skipped.append((ref, account))
                    continue
                conn.execute(
                    """INSERT INTO payments (statement_id, run_id, seller_id, amount, payout_account_id)
                       VALUES (%s, %s, %s, %s, %s)""",
                    (statement_id, run_id, seller_id, amount, account[0]),
                )
                report.transfers.append(Transfer(ref, seller_id, account[1], account[2], account[3], amount))
            if report.transfers:
                report.run_id = run_id
                content = transfer_file(report.transfers)
                conn.execute(
                    """INSERT INTO payment_runs (id, month, transfers, total, file_name, transfer_file)
                       OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s, %s, %s, %s)""",
                    (run_id, month, len(report.transfers), report.total, file_name(month, run_id), content),
                )
                _publish(conn)
        # committed: now the files, this run's and any of the month's that a killed run left unwritten
        runs = conn.execute(
            "SELECT id, file_name, transfer_file FROM payment_runs WHERE month = %s ORDER BY id", (month,)
        ).fetchall()
    for rid, name, content in runs:
        path = Path(out_dir) / name
        try:
            if rid == report.run_id:
                write_file_atomically(path, content)
                report.file = path
            elif not path.exists():
                write_file_atomically(path, content)
                report.rewritten.append(path)
        except OSError as exc:
            paid = f"paid run {report.run_id} ({len(report.transfers)} transfers) but " if rid == report.run_id else ""
            raise PaymentsProblem(
                f"{paid}could not write the transfer file {path}: {exc.strerror or exc}",
                f"run `settlement pay --month {month_label(month)} --out DIR` again with a folder it can write: "
                "it pays nothing twice and writes the file from the database",
            ) from exc
    return report


def _why_not_payable(conn: psycopg.Connection, seller_id: int) -> str | tuple[Any, ...]:
    """Why the seller cannot be paid now (on hold, no usable account), or else the account."""
    hold = conn.execute(
        "SELECT action, reason FROM payment_holds WHERE seller_id = %s ORDER BY id DESC LIMIT 1", (seller_id,)
    ).fetchone()
    if hold and hold[0] == "HOLD":
        return f"on hold: {hold[1]}"
    account = conn.execute(
        """SELECT id, holder, bank_code, account_number FROM payout_accounts
           WHERE seller_id = %s ORDER BY id DESC LIMIT 1""",
        (seller_id,),
    ).fetchone()
    if account is None:
        return "no payout account registered"
    returned = conn.execute(
        """SELECT 1 FROM payments p JOIN payment_returns r ON r.payment_id = p.id WHERE p.payout_account_id = %s""",
        (account[0],),
    ).fetchone()
    if returned:
        return "the bank returned a transfer to the payout account: it must be registered again"
    return account


def write_file_atomically(path: Path, content: str) -> None:
    """The whole file or none under its name (a temporary file renamed), readable by its owner only:
    it holds account numbers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------------------------------
# Returned transfers


@dataclass(frozen=True)
class ReturnReport:
    statement_ref: str
    amount: Decimal
    paid_at: dt.datetime


def mark_returned(settings: CommonSettings, statement_ref: str, reason: str) -> ReturnReport:
    """Marks the transfer that paid a statement as returned by the bank, once: its amount goes back into
    the seller's balance, onto their next statement."""
    seller_id, number = parse_statement_ref(statement_ref)
    with _connect(settings) as conn, conn.transaction():
        _take_lock(conn)
        statement = conn.execute(
            "SELECT id, payable FROM payment_statements WHERE seller_id = %s AND number = %s", (seller_id, number)
        ).fetchone()
        if statement is None:
            raise PaymentsProblem(f"no statement {statement_ref}", "name a statement as SELLER-NUMBER, as the transfer file does")
        payment = conn.execute("SELECT id, amount, paid_at FROM payments WHERE statement_id = %s", (statement[0],)).fetchone()
        if payment is None:
            state = "awaiting a payment run" if statement[1] else "carried over, not payable"
            raise PaymentsProblem(f"statement {statement_ref} was not paid ({state})", "only a paid transfer can be returned")
        returned = conn.execute("SELECT returned_at FROM payment_returns WHERE payment_id = %s", (payment[0],)).fetchone()
        if returned:
            raise PaymentsProblem(
                f"the transfer of statement {statement_ref} was marked returned already ({returned[0]:%Y-%m-%d %H:%M %Z})",
                "nothing to do; a transfer is returned once",
            )
        conn.execute(
            "INSERT INTO payment_returns (payment_id, seller_id, amount, reason) VALUES (%s, %s, %s, %s)",
            (payment[0], seller_id, payment[1], reason),
        )
        _publish(conn)
        return ReturnReport(statement_ref, payment[1], payment[2])


# ----------------------------------------------------------------------------------------------------
# Holds


def set_hold(settings: CommonSettings, seller_id: int, hold: bool, reason: str) -> None:
    """Puts a seller's payments on hold (or takes them off): their statements carry the balance over,
    and payment runs skip them, until released."""
    with _connect(settings) as conn, conn.transaction():
        _take_lock(conn)
        role = conn.execute("SELECT role FROM users WHERE id = %s", (seller_id,)).fetchone()
        if role is None or role[0] != "SELLER":
            raise PaymentsProblem(f"no seller {seller_id}", "name a seller by their user id")
        last = conn.execute(
            "SELECT action FROM payment_holds WHERE seller_id = %s ORDER BY id DESC LIMIT 1", (seller_id,)
        ).fetchone()
        on_hold = bool(last and last[0] == "HOLD")
        if hold and on_hold:
            raise PaymentsProblem(
                f"seller {seller_id} is on hold already", f"release it first: settlement hold --seller {seller_id} --release"
            )
        if not hold and not on_hold:
            raise PaymentsProblem(f"seller {seller_id} is not on hold", "nothing to release")
        conn.execute(
            "INSERT INTO payment_holds (seller_id, action, reason) VALUES (%s, %s, %s)",
            (seller_id, "HOLD" if hold else "RELEASE", reason),
        )
        _publish(conn)
