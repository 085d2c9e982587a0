"""The pages the account mails link to (server-rendered, no script): the verification link's page asks for
the signup's password, and confirms the address only with it."""

import re
from urllib.parse import urlencode

from api.logs import redacted_path
from tests.api.conftest import BASE_URL, verification_link, verification_token

FORM = {"content-type": "application/x-www-form-urlencoded"}
PASSWORD = "correct horse"


def form(**fields: str) -> bytes:
    return urlencode(fields).encode()


async def signup(client, email: str, password: str = PASSWORD):
    response = await client.post("/auth/signup", json={"email": email, "password": password, "username": "someone"})
    assert response.status_code == 201, response.text


async def test_the_verification_link_opens_a_page_that_asks_for_the_password(client, conn, api_settings):
    await signup(client, "paged@example.com")
    link = verification_link(conn, "paged@example.com")
    assert link.startswith(api_settings.email_verification_url)
    page = await client.get(link.removeprefix("http://127.0.0.1:8000"))
    assert page.status_code == 200 and 'type="password"' in page.text and 'action="/verify-email"' in page.text
    assert f'value="{verification_token(conn, "paged@example.com")}"' in page.text
    assert "<script" not in page.text and page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    # opening the page verified nothing (mail scanners follow links)
    assert conn.execute("SELECT email_verified FROM users WHERE email = 'paged@example.com'").fetchone()[0] is False


async def test_the_page_confirms_the_address_with_the_signups_password_only(client, conn):
    await signup(client, "formed@example.com")
    token = verification_token(conn, "formed@example.com")
    wrong = await client.post("/verify-email", content=form(token=token, password="not mine"), headers=FORM)
    assert wrong.status_code == 403 and "sign up again" in wrong.text and 'type="password"' in wrong.text
    right = await client.post("/verify-email", content=form(token=token, password=PASSWORD), headers=FORM)
    assert right.status_code == 200 and "confirmed" in right.text and 'href="/studio/login"' in right.text
    again = await client.post("/verify-email", content=form(token=token, password=PASSWORD), headers=FORM)
    assert again.status_code == 404 and "newest mail" in again.text
    login = await client.post("/auth/login", json={"email": "formed@example.com", "password": PASSWORD})
    assert login.status_code == 200


async def test_the_page_refuses_posts_from_elsewhere_and_broken_links(client, conn):
    await signup(client, "elsewhere@example.com")
    token = verification_token(conn, "elsewhere@example.com")
    for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}):
        response = await client.post("/verify-email", content=form(token=token, password=PASSWORD), headers={**FORM, **headers})
        assert response.status_code == 403, headers
    same_site = {"origin": BASE_URL, "sec-fetch-site": "same-origin"}
    assert (
        await client.post("/verify-email", content=form(token=token, password=PASSWORD), headers={**FORM, **same_site})
    ).status_code == 200
    for broken in ("", "short", "x" * 43 + "!"):
        page = await client.get("/verify-email", params={"token": broken})
        assert page.status_code == 400 and "not complete" in page.text, broken
    assert (await client.get("/verify-email", params={"token": "x" * 101})).status_code == 422
    assert (await client.post("/verify-email", content=b"f1=a&f2=b&f3=c&f4=d&f5=e&f6=f", headers=FORM)).status_code == 400


def test_the_access_log_keeps_no_link_token():
    assert redacted_path("/verify-email?token=abc") == "/verify-email?token=REDACTED"
    assert not re.search("abc", redacted_path("/reset-password?token=abc&x=1"))
