"""Payment runs and returned transfers (SPEC.md "Payments"): the bank-transfer file and its control total,
nothing paid twice (a rerun, two runs at once), no formula in the file, a transfer returned once and its
amount back on the next statement, holds and accounts judged when the run pays."""

import csv
import datetime as dt
import io
import os
import re
import subprocess
import sys
import threading

import psycopg
import pytest

from settlement import payments
from settlement.config import PROJECT_ROOT

AUG, SEP, OCT = dt.date(2026, 8, 1), dt.date(2026, 9, 1), dt.date(2026, 10, 1)


def starts_a_formula(cell: str) -> bool:
    """What a spreadsheet would run: text starting with =, +, - or @ (a plain number like -1000 is a number)."""
    return cell.startswith(("=", "+", "-", "@")) and re.fullmatch(r"-?[0-9]+", cell) is None


def read_file(path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode())))


def test_a_run_pays_each_payable_statement_once_and_writes_the_transfer_file(books):
    kim, lee, small = books.seller(), books.seller(), books.seller()
    books.account(kim, "Kim Minji", "004", "12345678901")
    books.account(lee, "Lee Seojun", "088", "110223334444")
    books.account(small)
    books.close_month(AUG, {kim: 1_234_567, lee: 300_000, small: 5_000})
    books.issue(AUG)
    report = books.pay(AUG)
    assert report.file.name == f"transfers-2026-08-run{report.run_id}.csv"
    assert oct(report.file.stat().st_mode & 0o777) == "0o600"  # account numbers: the owner's eyes only
    assert read_file(report.file) == [
        ["statement", "seller", "holder", "bank", "account", "amount"],
        [f"{kim}-1", str(kim), "Kim Minji", "004", "12345678901", "1193837"],
        [f"{lee}-1", str(lee), "Lee Seojun", "088", "110223334444", "290100"],
        ["CONTROL TOTAL", "2 transfers", "", "", "", "1483937"],
    ]
    stored = books.conn.execute("SELECT transfer_file, total, transfers FROM payment_runs").fetchone()
    assert stored == (report.file.read_bytes().decode(), 1_483_937, 2)

    again = books.pay(AUG)  # run again: nothing twice
    assert again.transfers == [] and again.already_paid == 2 and again.file is None
    assert books.conn.execute("SELECT count(*) FROM payments").fetchone()[0] == 2
    books.check_money()


def test_no_cell_of_the_file_is_a_formula(books):
    sellers = [books.seller() for _ in range(4)]
    for seller, holder in zip(
        sellers, ['=HYPERLINK("http://evil.example")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"], strict=True
    ):
        books.account(seller, holder)
    books.close_month(AUG, dict.fromkeys(sellers, 200_000))
    books.issue(AUG)
    rows = read_file(books.pay(AUG).file)
    holders = [row[2] for row in rows[1:-1]]
    assert holders == ['\'=HYPERLINK("http://evil.example")', "'+1+cmd|' /C calc'!A0", "'-2+3", "'@SUM(A1)"]
    assert not any(starts_a_formula(cell) for row in rows for cell in row)


def test_a_returned_transfer_goes_back_into_the_balance_once_and_onto_the_next_statement(books):
    seller = books.seller()
    books.account(seller)
    books.close_month(AUG, {seller: 400_000})
    books.issue(AUG)
    books.pay(AUG)
    books.return_transfer(seller, 1)
    with pytest.raises(payments.PaymentsProblem, match=rf"transfer of statement {seller}-1 was marked returned already"):
        payments.mark_returned(books.settings, f"{seller}-1", "again")
    balance = books.conn.execute(
        "SELECT balance, returned_pending, paid_total FROM analytics.fct_seller_balances WHERE seller_id = %s", (seller,)
    ).fetchone()
    assert balance == (386_800, 386_800, 0)
    books.check_money()

    # the account the bank returned it from is not paid again: carried over until registered again
    books.close_month(SEP, {seller: 1_000})
    books.issue(SEP)
    september = books.statements()[-1]
    assert september["returned_in"] == 386_800 and not september["payable"]
    assert "the bank returned a transfer to the payout account" in september["carry_reason"]
    books.account(seller, number="99988877766")
    books.close_month(OCT, {})
    books.issue(OCT)
    october = books.statements()[-1]
    assert october["carried_in"] == september["carried_out"] and october["payable"] and october["returned_in"] == 0
    books.pay(OCT)
    books.check_statements()
    books.check_money()


def test_only_a_paid_transfer_can_be_returned(books):
    seller = books.seller()
    books.close_month(AUG, {seller: 400_000})  # no account: carried over
    books.issue(AUG)
    with pytest.raises(payments.PaymentsProblem, match=rf"statement {seller}-1 was not paid \(carried over"):
        payments.mark_returned(books.settings, f"{seller}-1", "x")
    with pytest.raises(payments.PaymentsProblem, match="no statement 999-1"):
        payments.mark_returned(books.settings, "999-1", "x")


def test_a_seller_put_on_hold_after_the_statement_waits_for_a_later_run(books):
    seller, other = books.seller(), books.seller()
    books.account(seller)
    books.account(other)
    books.close_month(AUG, {seller: 200_000, other: 200_000})
    books.issue(AUG)
    books.hold(seller)
    report = books.pay(AUG)
    assert [t.seller_id for t in report.transfers] == [other]
    assert report.skipped == [(f"{seller}-1", "on hold: identity check")]
    awaiting = books.conn.execute(
        "SELECT awaiting_payment, statements_awaiting_payment FROM analytics.fct_seller_balances WHERE seller_id = %s", (seller,)
    ).fetchone()
    assert awaiting == (193_400, 1)
    books.check_money()
    books.hold(seller, on=False)
    books.close_month(SEP, {seller: 150_000})
    books.issue(SEP)
    assert sorted(t.statement_ref for t in books.pay(SEP).transfers) == [f"{seller}-1", f"{seller}-2"]
    books.check_money()


def test_a_statement_cannot_be_paid_twice_even_bypassing_the_commands(books):
    seller = books.seller()
    books.account(seller)
    books.close_month(AUG, {seller: 200_000})
    books.issue(AUG)
    books.pay(AUG)
    with pytest.raises(psycopg.errors.UniqueViolation, match="uq_payments_statement_id"):
        books.conn.execute(
            """INSERT INTO payments (statement_id, run_id, seller_id, amount, payout_account_id)
               SELECT statement_id, run_id, seller_id, amount, payout_account_id FROM payments"""
        )
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="insert-only"):
        books.conn.execute("DELETE FROM payments")


def pay_process(url: str, month: str, out_dir) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "settlement.cli", "pay", "--month", month, "--out", str(out_dir)],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_until_blocked(conn, pid_of_holder: int, timeout: float = 60) -> int:
    """The backend of the process waiting for the row lock the gate holds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND %s = ANY(pg_blocking_pids(pid))",
            (pid_of_holder,),
        ).fetchone()
        if row:
            return row[0]
        time.sleep(0.02)
    pytest.fail("the payment run never reached the gate")


class Gate:
    """Holds a row lock on one statement, so a payment run that reaches it waits there, mid-batch, with
    the payments lock and its first payments recorded but not committed."""

    def __init__(self, url: str, statement_ref: str):
        self.conn = psycopg.connect(url)
        seller, number = payments.parse_statement_ref(statement_ref)
        self.conn.execute("SELECT id FROM payment_statements WHERE seller_id = %s AND number = %s FOR UPDATE", (seller, number))
        self.pid = self.conn.info.backend_pid

    def open(self) -> None:
        self.conn.rollback()
        self.conn.close()


@pytest.fixture
def three_payable(books):
    sellers = [books.seller() for _ in range(3)]
    for seller in sellers:
        books.account(seller)
    books.close_month(AUG, dict.fromkeys(sellers, 200_000))
    books.issue(AUG)
    return sellers


def test_two_payment_runs_at_once_pay_once_and_the_second_is_told_busy(books, three_payable, payments_url, tmp_path):
    gate = Gate(payments_url, f"{three_payable[2]}-1")
    first = pay_process(payments_url, "2026-08", tmp_path / "first")
    try:
        wait_until_blocked(books.conn, gate.pid)
        second = pay_process(payments_url, "2026-08", tmp_path / "second")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 75, (out, err)
        assert err.strip() == "error: another payment command (statements, pay, hold) is running — try again when it has finished"
        statements = subprocess.run(
            [sys.executable, "-m", "settlement.cli", "statements", "--month", "2026-09"], cwd=PROJECT_ROOT,
            env={**os.environ, "DATABASE_URL": payments_url}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert statements.returncode == 75, statements.stderr
    finally:
        gate.open()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert "3 transfers, 580,200 KRW" in out
    books.ref.pay(AUG)
    assert books.conn.execute("SELECT count(*), count(DISTINCT statement_id) FROM payments").fetchone() == (3, 3)
    assert not (tmp_path / "second").exists()
    books.check_money()


def test_two_payment_runs_started_together_pay_each_statement_once(books, three_payable, payments_url, tmp_path):
    outcomes = []

    def run(name):
        process = pay_process(payments_url, "2026-08", tmp_path / name)
        outcomes.append((process.wait(timeout=120), process.stdout.read()))

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code for code, _ in outcomes) in ([0, 0], [0, 75])
    assert sum("3 transfers" in out for _, out in outcomes) == 1
    assert books.conn.execute("SELECT count(*), count(DISTINCT statement_id) FROM payments").fetchone() == (3, 3)
