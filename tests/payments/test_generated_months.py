"""Generated sequences of months (hypothesis): payouts around the threshold, adjustments booked in later
months (late events for closed days, either sign), accounts registered late, sellers turning businesses,
holds put on and off, payment runs now and then, transfers returned by the bank. After every month each
statement is, figure by figure, the reference's (tests/engine/scenario.py, from SPEC.md); after every
payment run the transfers are the reference's; and throughout, every won of the closed days is paid
exactly once, withheld, in a balance, awaiting payment or on no statement yet, adding up to the closed
payouts and adjustments."""

import datetime as dt

from hypothesis import given, note, settings
from hypothesis import strategies as st

from tests.hypothesis_profiles import examples
from tests.payments.conftest import Books, days_of, empty_books

FIRST_MONTH = dt.date(2025, 1, 1)
SELLERS = 4

amounts = st.one_of(st.just(0), st.integers(1, 99_999), st.integers(95_000, 110_000), st.integers(100_000, 2_000_000))
adjustment = st.one_of(st.just(0), st.integers(-150_000, 150_000))


@st.composite
def month_plans(draw):
    months = draw(st.integers(2, 5))
    plans = []
    for _ in range(months):
        plans.append({
            "payouts": draw(st.lists(amounts, min_size=SELLERS, max_size=SELLERS)),
            "adjustments": draw(st.lists(adjustment, min_size=SELLERS, max_size=SELLERS)),
            "adjusted_on": draw(st.integers(0, 27)),  # the day of the month the adjustments are booked on
            "accounts": draw(st.lists(st.booleans(), min_size=SELLERS, max_size=SELLERS)),  # register (again) now
            "business": draw(st.lists(st.sampled_from([None, True, False]), min_size=SELLERS, max_size=SELLERS)),
            "holds": draw(st.lists(st.sampled_from([None, True, False]), min_size=SELLERS, max_size=SELLERS)),
            "pay": draw(st.booleans()),
            "returns": draw(st.integers(0, 2)),  # transfers the bank returns after the run
            "hold_before_pay": draw(st.sampled_from([None, *range(SELLERS)])),
        })  # fmt: skip
    return plans


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


@settings(max_examples=examples(8, 150))
@given(plans=month_plans())
def test_every_won_is_paid_once_or_in_a_balance(pconn, pay_settings, tmp_path_factory, plans):
    empty_books(pconn)
    books = Books(pconn, pay_settings, tmp_path_factory.mktemp("files"))
    sellers = [books.seller() for _ in range(SELLERS)]
    for index, plan in enumerate(plans):
        month = add_months(FIRST_MONTH, index)
        note(f"{month}: {plan}")
        for seller, register, business, hold in zip(sellers, plan["accounts"], plan["business"], plan["holds"], strict=True):
            if register:
                books.account(seller, number=f"{seller:04d}{index:04d}00")
            if business is not None and (seller in books.ref.business) != business:
                books.business(seller, "123-45-67890" if business else None)
            if hold is not None and (seller in books.ref.holds) != hold:
                books.hold(seller, hold)
        payouts = dict(zip(sellers, plan["payouts"], strict=True))
        adjustments = dict(zip(sellers, plan["adjustments"], strict=True)) if index else {}  # for earlier closed days
        for day in days_of(month):
            booked = adjustments if day.day == plan["adjusted_on"] + 1 else {}
            books.close_day(day, payouts if day.day == 1 else {}, booked)
        books.issue(month)
        books.check_statements()
        books.check_money()
        if plan["pay"]:
            if plan["hold_before_pay"] is not None and sellers[plan["hold_before_pay"]] not in books.ref.holds:
                books.hold(sellers[plan["hold_before_pay"]])
            books.pay(month)
            books.check_money()
            paid = sorted(key for key in books.ref.paid if key not in books.ref.returned)
            for seller, number in paid[: plan["returns"]]:
                books.return_transfer(seller, number)
            books.check_money()
    books.check_statements()
    numbers = pconn.execute("SELECT seller_id, array_agg(number ORDER BY number) FROM payment_statements GROUP BY 1").fetchall()
    assert all(list(issued) == list(range(1, len(issued) + 1)) for _, issued in numbers)  # no gaps
