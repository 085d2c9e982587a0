"""Payments under test: a database of the module's own, on which one day was settled (it builds every
model, the payments views included), and a Books helper that writes closed days, accounts, holds and
business registrations as the engine, the API and the operator do, then issues and pays through the
commands' own functions, keeping the reference (tests/engine/scenario.py) in step."""

import datetime as dt
import random
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from settlement import migrations, payments, pipeline
from settlement.config import EngineSettings
from tests.engine.scenario import PaymentsReference

FIRST_SETTLED = dt.date(2020, 1, 1)  # the module's one settlement, to build the models; forgotten after
PAYMENT_TABLES = (
    "statement_returns", "payment_returns", "payments", "payment_runs", "payment_statements", "stated_days",
    "payment_months", "payment_holds", "payout_accounts", "seller_tax_registrations",
)  # fmt: skip


@pytest.fixture(scope="module")
def payments_url(fresh_database) -> str:
    url = fresh_database("settlement_payments")
    migrations.upgrade(url)
    [result] = pipeline.run_days(EngineSettings(_env_file=None, database_url=url), FIRST_SETTLED)
    assert result.succeeded, result
    return url


@pytest.fixture
def pay_settings(payments_url) -> EngineSettings:
    return EngineSettings(_env_file=None, database_url=payments_url)


def empty_books(conn) -> None:
    conn.execute(
        f"TRUNCATE {', '.join(PAYMENT_TABLES)}, closed_payout_adjustments, closed_video_ad_payouts, "
        "closed_video_payouts, closed_days, settled_days, pipeline_runs, users RESTART IDENTITY CASCADE"
    )


@pytest.fixture
def pconn(payments_url):
    with psycopg.connect(payments_url, autocommit=True) as connection:
        empty_books(connection)
        yield connection


def days_of(month: dt.date) -> list[dt.date]:
    end = payments.month_end(month)
    return [month + dt.timedelta(days=n) for n in range((end - month).days + 1)]


class Books:
    """The database and the reference, moved together."""

    def __init__(self, conn, settings: EngineSettings, out_dir: Path):
        self.conn, self.settings, self.out_dir = conn, settings, out_dir
        self.ref = PaymentsReference()
        self.videos: dict[int, list[int]] = {}

    def seller(self, name: str | None = None) -> int:
        name = name or f"seller-{uuid.uuid4().hex[:8]}"
        seller_id = self.conn.execute(
            "INSERT INTO users (email, username, password_hash, role) VALUES (%s, %s, 'x', 'SELLER') RETURNING id",
            (f"{name}@example.com", name),
        ).fetchone()[0]
        self.videos[seller_id] = [seller_id * 1000 + n for n in range(1, 4)]
        return seller_id

    def adopt(self, seller_id: int, videos: list[int]) -> int:
        """A seller made elsewhere (the API's signup), paid for these videos."""
        self.videos[seller_id] = videos
        return seller_id

    def account(self, seller_id: int, holder: str = "Kim Minji", bank: str = "004", number: str = "12345678901") -> None:
        self.conn.execute(
            """INSERT INTO payout_accounts (seller_id, holder, bank_code, account_number, registered_by)
               VALUES (%s, %s, %s, %s, 'seller')""",
            (seller_id, holder, bank, number),
        )
        self.ref.register_account(seller_id)

    def business(self, seller_id: int, number: str | None = "123-45-67890") -> None:
        self.conn.execute(
            "INSERT INTO seller_tax_registrations (seller_id, business_number, registered_by) VALUES (%s, %s, 'seller')",
            (seller_id, number),
        )
        (self.ref.business.add if number else self.ref.business.discard)(seller_id)

    def hold(self, seller_id: int, on: bool = True) -> None:
        payments.set_hold(self.settings, seller_id, on, "identity check" if on else "released")
        (self.ref.holds.add if on else self.ref.holds.discard)(seller_id)

    def close_day(self, day: dt.date, payouts: dict[int, int], adjustments: dict[int, int] | None = None) -> None:
        """A day closed as `settlement close` freezes it: its payouts per video (spread over the seller's
        videos) and the adjustments booked on it (belonging to an earlier closed day)."""
        adjustments = adjustments or {}
        self.conn.execute("INSERT INTO closed_days (day) VALUES (%s)", (day,))
        rng = random.Random(f"{day}")
        for seller_id, amount in payouts.items():
            parts = self._split(rng, amount, len(self.videos[seller_id]))
            for video_id, part in zip(self.videos[seller_id], parts, strict=True):
                if part:
                    ad = part // 3
                    self.conn.execute(
                        """INSERT INTO closed_video_payouts
                               (day, video_id, seller_id, views, watch_seconds, ad_views, video_payout, ad_payout, payout)
                           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                        (day, video_id, seller_id, part, part * 30, ad // 10, part - ad, ad, part),
                    )
        earlier = min(self.ref.closed, default=day - dt.timedelta(days=1))
        for seller_id, amount in adjustments.items():
            if amount:
                self.conn.execute(
                    """INSERT INTO closed_payout_adjustments (booked_on, belongs_to, video_id, seller_id, payout_delta, reason)
                       VALUES (%s, %s, %s, %s, %s, 'late events changed a closed day')""",
                    (day, earlier, self.videos[seller_id][0], seller_id, amount),
                )
        self.ref.close_day(day, {s: a for s, a in payouts.items() if a}, {s: a for s, a in adjustments.items() if a})

    @staticmethod
    def _split(rng: random.Random, amount: int, parts: int) -> list[int]:
        cuts = sorted(rng.randint(0, amount) for _ in range(parts - 1))
        return [b - a for a, b in zip([0, *cuts], [*cuts, amount], strict=True)]

    def close_month(self, month: dt.date, payouts: dict[int, int], adjustments: dict[int, int] | None = None) -> None:
        """Every day of the month closed; the month's payouts on its first day, adjustments booked on its last."""
        for day in days_of(month):
            self.close_day(day, payouts if day == month else {}, (adjustments or {}) if day == payments.month_end(month) else {})

    def issue(self, month: dt.date) -> payments.IssueReport:
        report = payments.issue_statements(self.settings, month)
        self.ref.issue(month)
        return report

    def pay(self, month: dt.date) -> payments.PayReport:
        report = payments.pay(self.settings, month, self.out_dir)
        expected = self.ref.pay(month)
        assert {tuple(map(int, t.statement_ref.split("-"))): int(t.amount) for t in report.transfers} == expected
        return report

    def return_transfer(self, seller_id: int, number: int) -> None:
        payments.mark_returned(self.settings, f"{seller_id}-{number}", "account closed")
        self.ref.return_transfer(seller_id, number)

    def statements(self) -> list[dict]:
        rows = self.conn.execute(
            """SELECT seller_id, number, month, carried_in, returned_in, payouts, adjustments, gross, income_tax,
                      local_income_tax, withholding, net, payable, amount_payable, carried_out, carry_reason
               FROM payment_statements ORDER BY seller_id, number"""
        ).fetchall()
        columns = ("seller_id", "number", "month", "carried_in", "returned_in", "payouts", "adjustments", "gross",
                   "income_tax", "local_income_tax", "withholding", "net", "payable", "amount_payable", "carried_out",
                   "carry_reason")  # fmt: skip
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def check_statements(self) -> None:
        """Every issued statement, figure by figure, as the reference issued it; the carry-over reasons too."""
        issued = self.statements()
        expected = [s for seller in sorted(self.ref.statements) for s in self.ref.statements[seller]]
        assert [(s["seller_id"], s["number"]) for s in issued] == [(s.seller_id, s.number) for s in expected]
        for got, want in zip(issued, expected, strict=True):
            for name in ("month", "carried_in", "returned_in", "payouts", "adjustments", "gross", "income_tax",
                         "local_income_tax", "withholding", "net", "payable", "amount_payable", "carried_out"):  # fmt: skip
                value = got[name]
                assert (int(value) if isinstance(value, Decimal) else value) == getattr(want, name), (name, got, want)
            assert reasons_of(got["carry_reason"]) == want.reasons, (got, want)

    def check_money(self) -> None:
        """Every won of the closed days is paid once, withheld, in a balance, awaiting payment, or on no
        statement yet: the engine's balances say the same as the reference, and they add up."""
        expected = self.ref.totals()
        row = self.conn.execute(
            """SELECT coalesce(sum(paid_total), 0), coalesce(sum(withheld_total), 0), coalesce(sum(balance), 0),
                      coalesce(sum(awaiting_payment), 0), coalesce(sum(unstated_closed), 0)
               FROM analytics.fct_seller_balances"""
        ).fetchone()
        got = dict(zip(("paid", "withheld", "balance", "awaiting", "unstated"), map(int, row), strict=True))
        assert got == {name: value for name, value in expected.items() if name != "closed"}
        closed = self.conn.execute(
            """SELECT (SELECT coalesce(sum(payout), 0) FROM closed_video_payouts)
                    + (SELECT coalesce(sum(payout_delta), 0) FROM closed_payout_adjustments)"""
        ).fetchone()[0]
        assert int(closed) == expected["closed"] == sum(got.values())
        transferred = self.conn.execute(
            "SELECT coalesce(sum(amount), 0) FROM payments p WHERE NOT EXISTS (SELECT 1 FROM payment_returns r WHERE r.payment_id = p.id)"
        ).fetchone()[0]
        assert int(transferred) == got["paid"]


def reasons_of(text: str | None) -> frozenset:
    """The engine's carry-over reason, in the reference's words."""
    if not text:
        return frozenset()
    words = {"on hold": "hold", "no payout account": "no_account", "bank returned": "returned_account",
             "below the payment threshold": "threshold"}  # fmt: skip
    return frozenset(key for phrase, key in words.items() if phrase in text)


@pytest.fixture
def books(pconn, pay_settings, tmp_path) -> Books:
    return Books(pconn, pay_settings, tmp_path / "payment-files")
