"""The payments API (SPEC.md "Payments"): a seller's balance and progress to the threshold, statements
(one, as CSV), payment history, payout account (masked) and business registration, each the seller's
own only; the operators' masked read of an account and its changes."""

import asyncio
import csv
import datetime as dt
import io

import pytest

from settlement import payments
from settlement.pipeline import run_days
from tests.api.conftest import OPS_TOKEN
from tests.payments.conftest import Books
from tests.payments.test_pay import starts_a_formula

AUG, SEP = dt.date(2026, 8, 1), dt.date(2026, 9, 1)
ACCOUNT = {"holder": "Kim Minji", "bank_code": "004", "account_number": "12345678901"}


@pytest.fixture
async def built(conn, test_settings):
    """The engine's models (the payments marts among them), built by settling a day long before."""
    [result] = await asyncio.to_thread(run_days, test_settings, dt.date(2020, 1, 1))
    assert result.succeeded, result
    conn.execute("TRUNCATE settled_days, pipeline_runs CASCADE")  # forgotten: the months below start the platform


@pytest.fixture
async def paid_month(client, make_account, upload, conn, built, test_settings, tmp_path):
    """Seller A (an account, two videos, one titled like a formula) paid for August, the transfer returned,
    then September carried over; seller B has a statement of their own."""
    seller_a, seller_b = await make_account("a", seller=True), await make_account("b", seller=True)
    formula = await upload(
        seller_a,
        {"title": '=HYPERLINK("http://evil.example")', "video_url": "https://cdn.example.com/x.mp4", "duration_seconds": 600},
    )
    plain = await upload(seller_a, {"title": "plain", "video_url": "https://cdn.example.com/p.mp4", "duration_seconds": 600})
    other = await upload(seller_b, {"title": "other", "video_url": "https://cdn.example.com/o.mp4", "duration_seconds": 600})
    assert (await client.put(f"/sellers/{seller_a.id}/payout-account", json=ACCOUNT, headers=seller_a.headers)).status_code == 200
    books = Books(conn, test_settings, tmp_path / "files")
    books.adopt(seller_a.id, [formula["id"], plain["id"]])
    books.adopt(seller_b.id, [other["id"]])
    books.ref.register_account(seller_a.id)
    books.close_month(AUG, {seller_a.id: 321_000, seller_b.id: 50_000}, adjustments={seller_a.id: -1_000})
    books.issue(AUG)
    books.pay(AUG)
    books.return_transfer(seller_a.id, 1)
    books.close_month(SEP, {seller_a.id: 20_000})
    books.issue(SEP)
    return seller_a, seller_b, books


async def get(client, path, account):
    response = await client.get(path, headers=account.headers)
    assert response.status_code == 200, response.text
    assert "12345678901" not in response.text  # never the whole account number
    return response.json()


async def test_a_seller_reads_their_balance_statements_and_payments(client, paid_month):
    seller, _, books = paid_month
    books.check_statements()
    balance = await get(client, f"/sellers/{seller.id}/balance", seller)
    _august, september = (s for s in books.statements() if s["seller_id"] == seller.id)
    assert balance["balance"] == september["carried_out"] == 309_440 + 20_000 - 660  # the returned 309,440 back
    assert balance["has_payout_account"] is False  # the bank returned a transfer to it
    assert balance["progress_percent"] == 100 and balance["threshold"] == 100_000
    assert (balance["paid_total"], balance["withheld_total"]) == (0, 10_560 + 660)

    listed = await get(client, f"/sellers/{seller.id}/statements", seller)
    assert [(s["statement"], s["payment_status"]) for s in listed["statements"]] == [
        (f"{seller.id}-2", "carried_over"),
        (f"{seller.id}-1", "returned"),
    ]
    one = await get(client, f"/sellers/{seller.id}/statements/1", seller)
    assert (one["payouts"], one["adjustments"], one["gross"], one["income_tax"], one["local_income_tax"], one["net"]) == (
        321_000,
        -1_000,
        320_000,
        9_600,
        960,
        309_440,
    )
    assert one["returned_onto"] == f"{seller.id}-2" and one["month"] == "2026-08"
    assert one["account"] == {"holder": "Kim Minji", "bank_code": "004", "account_number_masked": "*******8901"}
    assert sum(line["amount"] for line in one["payout_lines"]) == 321_000
    assert [line["amount"] for line in one["adjustment_lines"]] == [-1_000]
    two = await get(client, f"/sellers/{seller.id}/statements/2", seller)
    assert two["returned_in"] == 309_440 and "the bank returned a transfer" in two["carry_reason"]
    assert balance["balance"] == two["carried_out"]

    history = await get(client, f"/sellers/{seller.id}/payments", seller)
    [payment] = history["payments"]
    assert (payment["statement"], payment["amount"], payment["returned_onto"]) == (f"{seller.id}-1", 309_440, f"{seller.id}-2")
    assert payment["account"]["account_number_masked"] == "*******8901"


async def test_a_statement_downloads_as_csv_with_no_formula(client, paid_month):
    seller, _, _ = paid_month
    response = await client.get(f"/sellers/{seller.id}/statements/1/csv", headers=seller.headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="statement-{seller.id}-1.csv"'
    rows = list(csv.reader(io.StringIO(response.text)))
    assert ["net", "", "", "", "", "309440"] in rows
    titles = [row[2] for row in rows if row[0] == "payout"]
    assert '\'=HYPERLINK("http://evil.example")' in titles
    assert not any(starts_a_formula(cell) for row in rows for cell in row)


async def test_no_seller_reads_another_sellers_payments(client, paid_month, make_account):
    seller, other, _ = paid_month
    viewer = await make_account("viewer")
    for path in (
        "balance",
        "statements",
        "statements/1",
        "statements/1/csv",
        "payments",
        "payout-account",
        "business-registration",
    ):
        for intruder in (other, viewer):
            response = await client.get(f"/sellers/{seller.id}/{path}", headers=intruder.headers)
            assert response.status_code == 403, (path, response.text)
        assert (await client.get(f"/sellers/{seller.id}/{path}")).status_code == 401
    for method, path, body in (("put", "payout-account", ACCOUNT), ("put", "business-registration", {"business_number": None})):
        response = await client.request(method, f"/sellers/{seller.id}/{path}", json=body, headers=other.headers)
        assert response.status_code == 403
    assert (await client.get(f"/sellers/{other.id}/statements/3", headers=other.headers)).status_code == 404
    own = await get(client, f"/sellers/{other.id}/statements", other)
    assert [s["statement"] for s in own["statements"]] == [f"{other.id}-2", f"{other.id}-1"]  # below the threshold: carried


async def test_the_payout_account_is_validated_masked_and_every_change_kept(client, conn, make_account):
    seller = await make_account("s", seller=True)
    empty = await get(client, f"/sellers/{seller.id}/payout-account", seller)
    assert (empty["account"], empty["changes"]) == (None, 0)
    for bad in (
        {**ACCOUNT, "bank_code": "4"},
        {**ACCOUNT, "account_number": "123-456"},
        {**ACCOUNT, "holder": "a\x00b"},
        {**ACCOUNT, "holder": ""},
        {**ACCOUNT, "holder": "x" * 61},
        {**ACCOUNT, "account_number": "1" * 21},
    ):
        response = await client.put(f"/sellers/{seller.id}/payout-account", json=bad, headers=seller.headers)
        assert response.status_code == 422, bad
        assert "12345678901" not in response.text
    first = await client.put(f"/sellers/{seller.id}/payout-account", json=ACCOUNT, headers=seller.headers)
    assert first.json()["account"]["account_number_masked"] == "*******8901"
    changed = await client.put(
        f"/sellers/{seller.id}/payout-account",
        json={**ACCOUNT, "holder": "=Kim", "account_number": "9876543210"},
        headers=seller.headers,
    )
    assert changed.status_code == 200 and changed.json()["changes"] == 2
    assert changed.json()["account"] == {"holder": "=Kim", "bank_code": "004", "account_number_masked": "******3210"}
    assert conn.execute("SELECT account_number FROM payout_accounts ORDER BY id").fetchall() == [
        ("12345678901",),
        ("9876543210",),
    ]

    ops = await client.get(f"/ops/sellers/{seller.id}/payout-account", headers={"Authorization": f"Bearer {OPS_TOKEN}"})
    assert ops.status_code == 200
    assert [change["account_number_masked"] for change in ops.json()["history"]] == ["******3210", "*******8901"]
    assert "9876543210" not in ops.text
    assert (await client.get(f"/ops/sellers/{seller.id}/payout-account", headers=seller.headers)).status_code == 401


async def test_a_business_number_registered_withholds_nothing_from_the_next_statement(
    client, conn, make_account, built, test_settings, tmp_path
):
    seller = await make_account("s", seller=True)
    assert (await get(client, f"/sellers/{seller.id}/business-registration", seller))["seller_kind"] == "individual"
    bad = await client.put(
        f"/sellers/{seller.id}/business-registration", json={"business_number": "1234567890"}, headers=seller.headers
    )
    assert bad.status_code == 422
    registered = await client.put(
        f"/sellers/{seller.id}/business-registration", json={"business_number": "123-45-67890"}, headers=seller.headers
    )
    assert registered.json() == {"seller_id": seller.id, "seller_kind": "business", "business_number": "123-45-67890"}
    books = Books(conn, test_settings, tmp_path)
    books.adopt(seller.id, [1])
    books.ref.business.add(seller.id)
    books.close_month(AUG, {seller.id: 500_000})
    books.issue(AUG)
    [statement] = books.statements()
    assert (statement["withholding"], statement["net"]) == (0, 500_000)
    balance = await get(client, f"/sellers/{seller.id}/balance", seller)
    assert balance["seller_kind"] == "business" and balance["balance"] == 500_000  # no account: carried over
    assert "no payout account registered" in (await get(client, f"/sellers/{seller.id}/statements/1", seller))["carry_reason"]
    back = await client.put(f"/sellers/{seller.id}/business-registration", json={"business_number": None}, headers=seller.headers)
    assert back.json()["seller_kind"] == "individual"


async def test_before_anything_is_settled_a_seller_has_nothing_yet(client, make_account, never_settled):
    seller = await make_account("s", seller=True)
    balance = await get(client, f"/sellers/{seller.id}/balance", seller)
    assert (balance["balance"], balance["progress_percent"], balance["threshold"], balance["last_statement"]) == (
        0,
        0,
        None,
        None,
    )
    assert (await get(client, f"/sellers/{seller.id}/statements", seller))["statements"] == []
    assert (await get(client, f"/sellers/{seller.id}/payments", seller))["payments"] == []
    assert (await client.get(f"/sellers/{seller.id}/statements/1", headers=seller.headers)).status_code == 404
    assert payments.month_label(AUG) == "2026-08"
