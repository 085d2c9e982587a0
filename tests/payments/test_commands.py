"""The payment commands as an operator types them: what they print, and every refusal as one line
(`error: <what> — <next step>`) with the exit codes of `settlement --help`."""

import datetime as dt
import os
import subprocess
import sys

import pytest

AUG, SEP = dt.date(2026, 8, 1), dt.date(2026, 9, 1)


@pytest.fixture
def settlement(payments_url, tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "settlement.cli", *args], cwd=tmp_path, env={**os.environ, "DATABASE_URL": payments_url},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    return run


def one_line(outcome: subprocess.CompletedProcess, code: int) -> str:
    assert outcome.returncode == code, (outcome.stdout, outcome.stderr)
    [line] = outcome.stderr.strip().splitlines()
    assert line.startswith("error: ") and " — " in line
    return line


def test_a_month_issued_paid_and_a_transfer_returned_as_typed(books, settlement, tmp_path):
    seller, small = books.seller(), books.seller()
    books.account(seller)
    books.close_month(AUG, {seller: 250_000, small: 10_000})
    issued = settlement("statements", "--month", "2026-08")
    assert issued.returncode == 0, issued.stderr
    assert issued.stdout.splitlines() == [
        "issued 2026-08: 2 statements (31 closed days, 0 returned transfers taken back)",
        "  payable:      1 statements, 241,750 KRW",
        "  carried over: 1 statements, 9,670 KRW",
        "  withheld:     8,580 KRW",
        "next: settlement pay --month 2026-08",
    ]
    paid = settlement("pay", "--month", "2026-08")
    assert paid.returncode == 0, paid.stderr
    assert paid.stdout.splitlines()[0] == "paid 2026-08 (run 1): 1 transfers, 241,750 KRW"
    assert paid.stdout.splitlines()[1] == "  transfer file: payment-files/transfers-2026-08-run1.csv"
    assert (tmp_path / "payment-files" / "transfers-2026-08-run1.csv").exists()
    assert settlement("pay", "--month", "2026-08").stdout.startswith(
        "nothing to pay for 2026-08 and before (1 of its statements were paid before)"
    )
    returned = settlement("pay", "--returned", f"{seller}-1", "--reason", "account closed")
    assert returned.returncode == 0, returned.stderr
    assert returned.stdout.startswith(f"returned: statement {seller}-1, 241,750 KRW")
    line = one_line(settlement("pay", "--returned", f"{seller}-1"), 1)
    assert line.startswith(f"error: the transfer of statement {seller}-1 was marked returned already")


def test_refusals_are_one_line_with_the_documented_exit_codes(books, settlement):
    seller = books.seller()
    for day in [AUG + dt.timedelta(days=n) for n in range(30)]:  # August 31 left open
        books.close_day(day, {seller: 1_000} if day == AUG else {})
    assert one_line(settlement("statements", "--month", "2026-08"), 1) == (
        "error: cannot issue 2026-08: not every day of it is closed (open: 2026-08-31) — close them first: "
        "settlement close --month 2026-08 (settle them first if they are not)"
    )
    assert one_line(settlement("statements", "--month", "2026-13"), 2).startswith("error: not a month (YYYY-MM): '2026-13'")
    assert "has not ended" in one_line(settlement("statements", "--month", "2099-01"), 2)
    assert one_line(settlement("pay", "--month", "2026-08"), 1) == (
        "error: cannot pay 2026-08: its statements are not issued — issue them first: settlement statements --month 2026-08"
    )
    assert one_line(settlement("pay"), 2).startswith("error: give either --month or --returned")
    assert one_line(settlement("pay", "--returned", "17"), 2).startswith("error: not a statement (SELLER-NUMBER")
    assert one_line(settlement("hold", "--seller", str(seller)), 2).startswith("error: a hold needs a reason")
    assert settlement("hold", "--seller", str(seller), "--reason", "identity check").returncode == 0
    assert one_line(settlement("hold", "--seller", str(seller), "--reason", "again"), 1).startswith(
        f"error: seller {seller} is on hold already"
    )
    released = settlement("hold", "--seller", str(seller), "--release")
    assert (released.returncode, released.stdout.strip()) == (0, f"seller {seller}: released")


def test_without_the_payments_models_the_commands_say_what_builds_them(fresh_database, tmp_path):
    from settlement import migrations

    url = fresh_database("settlement_payments_bare")
    migrations.upgrade(url)
    outcome = subprocess.run(
        [sys.executable, "-m", "settlement.cli", "statements", "--month", "2026-08"], cwd=tmp_path,
        env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert one_line(outcome, 1) == (
        "error: the payments models are not built on this database yet — settle a day first "
        "(`settlement run`, or `dbt build`): it builds them"
    )
