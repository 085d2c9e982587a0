"""Issuing statements (SPEC.md "Payments"): each figure as the reference computes it from the spec,
withholding truncated per tax, carry-over and its reasons, months in order and only once closed, late
adjustments on the next statement, and statements that never change."""

import datetime as dt

import psycopg
import pytest

from settlement import payments
from tests.payments.conftest import days_of

# Months before the suite's clock (2026-11-25) and every hard day of tests/calendar
AUG, SEP, OCT = dt.date(2026, 8, 1), dt.date(2026, 9, 1), dt.date(2026, 10, 1)


def test_an_individual_sellers_month_withholds_each_tax_apart_truncated_to_10_krw(books):
    seller = books.seller()
    books.account(seller)
    books.close_month(AUG, {seller: 1_234_567})
    report = books.issue(AUG)
    [statement] = books.statements()
    # 3 % of 1,234,567 = 37,037.01 -> 37,030; 0.3 % = 3,703.701 -> 3,700 (each truncated, never rounded)
    assert (statement["income_tax"], statement["local_income_tax"], statement["withholding"]) == (37_030, 3_700, 40_730)
    assert statement["net"] == statement["amount_payable"] == 1_234_567 - 40_730
    assert statement["payable"] and statement["carry_reason"] is None and statement["number"] == 1
    assert (report.statements, report.payable, report.payable_total, report.days) == (1, 1, 1_193_837, 31)
    books.check_statements()


def test_a_business_seller_has_nothing_withheld(books):
    seller = books.seller()
    books.account(seller)
    books.business(seller)
    books.close_month(AUG, {seller: 500_005})
    books.issue(AUG)
    [statement] = books.statements()
    assert (statement["withholding"], statement["net"]) == (0, 500_005)
    books.check_statements()


def test_below_the_threshold_the_balance_carries_over_until_it_reaches_it(books):
    seller = books.seller()
    books.account(seller)
    books.close_month(AUG, {seller: 60_000})
    books.close_month(SEP, {seller: 50_000})
    books.issue(AUG)
    books.issue(SEP)
    first, second = books.statements()
    assert not first["payable"] and first["carried_out"] == first["net"] == 60_000 - 1_800 - 180
    assert "below the payment threshold (100,000 KRW)" in first["carry_reason"]
    assert second["carried_in"] == first["carried_out"] and second["payable"]
    assert second["net"] == 58_020 + 50_000 - 1_500 - 150
    books.check_statements()


def test_without_an_account_or_on_hold_the_balance_carries_over_with_the_reason(books):
    no_account, held, both = books.seller(), books.seller(), books.seller()
    books.account(held)
    books.account(both)
    books.hold(held)
    books.hold(both)
    books.close_month(AUG, {no_account: 200_000, held: 300_000, both: 400_000})
    books.issue(AUG)
    reasons = {s["seller_id"]: s["carry_reason"] for s in books.statements()}
    assert reasons[no_account] == "no payout account registered"
    assert reasons[held] == "on hold: identity check"
    books.check_statements()
    books.hold(held, on=False)
    books.account(no_account)
    books.close_month(SEP, {})
    books.issue(SEP)  # carried balances alone make statements, now payable
    september = {s["seller_id"]: s for s in books.statements() if s["month"] == SEP}
    assert september[no_account]["payable"] and september[held]["payable"] and not september[both]["payable"]
    assert september[no_account]["carried_in"] == 200_000 - 6_000 - 600 and september[no_account]["gross"] == 0
    books.check_statements()


def test_adjustments_booked_after_the_month_was_issued_land_on_the_next_statement(books):
    seller = books.seller()
    books.account(seller)
    books.close_month(AUG, {seller: 150_000}, adjustments={seller: 2_500})  # booked on Aug 31, for an earlier day
    books.issue(AUG)
    # late events for an August day, booked on September 3 (the next open day), after August was issued
    books.close_month(SEP, {seller: 120_000})
    books.conn.execute(
        """INSERT INTO closed_payout_adjustments (booked_on, belongs_to, video_id, seller_id, payout_delta, reason)
           VALUES ('2026-09-03', '2026-08-15', %s, %s, -7000, 'late events changed a closed day')""",
        (books.videos[seller][0], seller),
    )
    books.ref.booked[dt.date(2026, 9, 3)] = {seller: -7_000}
    books.issue(SEP)
    august, september = books.statements()
    assert (august["adjustments"], september["adjustments"]) == (2_500, -7_000)
    assert september["gross"] == 113_000
    lines = books.conn.execute(
        """SELECT line_kind, sum(amount), count(*) FILTER (WHERE belongs_to = '2026-08-15')
           FROM analytics.fct_statement_lines WHERE statement_ref = %s GROUP BY line_kind ORDER BY line_kind""",
        (f"{seller}-2",),
    ).fetchall()
    assert lines == [("adjustment", -7_000, 1), ("payout", 120_000, 0)]
    books.check_statements()
    books.check_money()


def test_a_month_whose_gross_is_negative_withholds_nothing_and_lowers_the_balance(books):
    seller = books.seller()
    books.account(seller)
    books.close_month(AUG, {seller: 90_000})
    books.close_month(SEP, {seller: 1_000}, adjustments={seller: -31_000})
    books.issue(AUG)
    books.issue(SEP)
    _, september = books.statements()
    assert (september["gross"], september["withholding"]) == (-30_000, 0)
    assert september["net"] == 90_000 - 2_700 - 270 - 30_000 and not september["payable"]
    books.check_statements()


def test_a_month_is_issued_once_every_day_is_closed_in_order_and_once(books):
    seller = books.seller()
    books.close_month(AUG, {seller: 10})
    for day in days_of(SEP)[:-1]:
        books.close_day(day, {seller: 5})
    with pytest.raises(payments.PaymentsProblem, match=r"cannot issue 2026-09 before 2026-08: months are issued in order"):
        payments.issue_statements(books.settings, SEP)
    books.issue(AUG)
    with pytest.raises(payments.PaymentsProblem, match=r"2026-08 was issued already \(1 statements"):
        payments.issue_statements(books.settings, AUG)
    with pytest.raises(payments.PaymentsProblem, match=r"not every day of it is closed \(open: 2026-09-30\)") as refused:
        payments.issue_statements(books.settings, SEP)
    assert refused.value.next_step.startswith("close them first: settlement close --month 2026-09")
    assert books.conn.execute("SELECT count(*) FROM payment_statements").fetchone()[0] == 1  # nothing half issued
    books.close_day(dt.date(2026, 9, 30), {seller: 5})
    books.issue(SEP)
    assert [s["number"] for s in books.statements()] == [1, 2]
    books.check_statements()


def test_a_month_that_has_not_ended_cannot_be_issued(books):
    today = payments.clock.today(books.settings.time_zone)
    with pytest.raises(payments.MonthNotEnded, match="has not ended"):
        payments.issue_statements(books.settings, today.replace(day=1))


def test_the_months_days_count_from_the_platforms_first_settled_day(books):
    """A platform that started on October 30 issues October once October 30 and 31 are closed."""
    seller = books.seller()
    run = books.conn.execute(
        "INSERT INTO pipeline_runs (run_date, trigger, status, finished_at) VALUES ('2026-10-30', 'test', 'SUCCEEDED', now()) RETURNING id, started_at"
    ).fetchone()
    for day in ("2026-10-30", "2026-10-31"):
        books.conn.execute("INSERT INTO settled_days (day, run_id, run_started_at) VALUES (%s, %s, %s)", (day, *run))
    books.close_day(dt.date(2026, 10, 30), {seller: 70})
    with pytest.raises(payments.PaymentsProblem, match=r"open: 2026-10-31"):
        payments.issue_statements(books.settings, OCT)
    books.close_day(dt.date(2026, 10, 31), {seller: 30})
    books.issue(OCT)
    assert books.statements()[0]["payouts"] == 100
    books.check_statements()


def test_issued_statements_never_change_and_are_numbered_without_gaps(books):
    seller, newcomer = books.seller(), books.seller()
    books.close_month(AUG, {seller: 10})
    books.issue(AUG)
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="insert-only"):
        books.conn.execute("UPDATE payment_statements SET net = net + 1")
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="insert-only"):
        books.conn.execute("DELETE FROM payment_statements")
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="fk_payment_statements_previous"):
        books.conn.execute(
            """INSERT INTO payment_statements (seller_id, number, month, carried_in, returned_in, payouts, adjustments,
                   gross, income_tax, local_income_tax, withholding, net, payable, amount_payable, carried_out,
                   carry_reason, seller_kind, income_tax_rate, local_income_tax_rate, income_tax_unit,
                   local_income_tax_unit, threshold)
               VALUES (%s, 2, '2026-08-01', 0, 0, 0, 0, 0, 0, 0, 0, 0, false, 0, 0, 'x', 'individual', 0, 0, 10, 10, 1)""",
            (newcomer,),  # a second statement with no first
        )
