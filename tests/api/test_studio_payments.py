"""The studio's Payments page through the ASGI client: the balance and its progress bar, the payout
account (masked; the form posts from this site only), the statements with their printable pages and
CSV, the payment history; a seller sees only their own."""

import csv
import io

from tests.api.conftest import BASE_URL
from tests.api.test_payments import ACCOUNT, built, paid_month  # noqa: F401  (fixtures)
from tests.api.test_studio import FORM, sign_in
from tests.payments.test_pay import starts_a_formula


async def test_the_payments_page_shows_the_sellers_own_balance_statements_and_payments(client, paid_month):  # noqa: F811
    seller, other, books = paid_month
    assert (await sign_in(client, seller.email)).status_code == 303
    page = await client.get("/studio/payments")
    assert page.status_code == 200 and "script" not in page.headers["content-security-policy"].replace("'none'", "")
    html = page.text
    september = [s for s in books.statements() if s["seller_id"] == seller.id][-1]
    assert f'data-balance="{september["carried_out"]}"' in html and "₩328,780" in html
    assert '<progress id="threshold-progress" max="100" value="100">' in html
    assert "*******8901" in html and "12345678901" not in html
    assert "The bank returned a transfer to this account" in html
    assert f'data-statement="{seller.id}-1" data-net="309440" data-status="returned"' in html
    assert f'data-statement="{seller.id}-2"' in html and f'data-statement="{other.id}-1"' not in html
    assert f'<tr class="payment" data-statement="{seller.id}-1" data-amount="309440">' in html

    printable = await client.get("/studio/payments/statements/1")
    assert printable.status_code == 200
    assert 'data-figure="income_tax"><th>Income tax (3 %, truncated to ₩10)</th><td class="num">-₩9,600</td>' in printable.text
    assert "Local income tax (0.3 %, truncated to ₩10)" in printable.text
    assert "&#34;http://evil.example&#34;" in printable.text or "&quot;http://evil.example&quot;" in printable.text  # escaped
    download = await client.get("/studio/payments/statements/1/csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert ["gross", "", "", "", "", "320000"] in rows
    assert not any(starts_a_formula(cell) for row in rows for cell in row)

    # another seller's statement numbers are their own: No. 3 is nobody's, and the other seller sees theirs
    assert (await client.get("/studio/payments/statements/3")).status_code == 404
    client.cookies.clear()
    assert (await sign_in(client, other.email)).status_code == 303
    theirs = await client.get("/studio/payments")
    assert f'data-statement="{other.id}-1"' in theirs.text and f'data-statement="{seller.id}-1"' not in theirs.text
    assert "No payout account yet" in theirs.text


async def test_the_account_form_registers_from_this_site_only_and_says_what_it_refuses(client, conn, make_account):
    seller = await make_account("s", seller=True)
    assert (await sign_in(client, seller.email)).status_code == 303
    body = "holder=Kim+Minji&bank_code=004&account_number=12345678901"
    foreign = await client.post("/studio/payments/account", content=body, headers={**FORM, "origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert conn.execute("SELECT count(*) FROM payout_accounts").fetchone()[0] == 0
    refused = await client.post("/studio/payments/account", content="holder=Kim&bank_code=4&account_number=12", headers=FORM)
    assert refused.status_code == 422 and "Not registered" in refused.text
    registered = await client.post("/studio/payments/account", content=body, headers={**FORM, "origin": BASE_URL})
    assert registered.status_code == 303 and registered.headers["location"] == "/studio/payments"
    page = await client.get("/studio/payments")
    assert 'Kim Minji · bank 004 · <span id="account-number">*******8901</span>' in page.text
    assert conn.execute("SELECT holder, account_number, registered_by FROM payout_accounts").fetchall() == [
        ("Kim Minji", "12345678901", f"seller {seller.id}")
    ]


async def test_the_payments_page_asks_to_sign_in_and_tells_a_viewer_it_is_for_sellers(client, make_account):
    assert (await client.get("/studio/payments")).headers["location"] == "/studio/login"
    viewer = await make_account("viewer")
    await sign_in(client, viewer.email)
    page = await client.get("/studio/payments")
    assert page.status_code == 403 and "sellers only" in page.text
    assert ACCOUNT["holder"] not in page.text
