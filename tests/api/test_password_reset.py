"""The owner of an address gets an account on it back: a password reset mailed to the address (issue 22's
recovery path). It ends every session of the account, so whoever held it before is out."""

import re
from urllib.parse import parse_qs, urlencode, urlsplit

from argon2 import PasswordHasher

from tests.api.conftest import client_of

PASSWORD = "correct horse"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def newest_mail(conn, email: str) -> tuple[str, str] | None:
    row = conn.execute(
        "SELECT subject, body FROM email_outbox WHERE recipient = %s ORDER BY id DESC LIMIT 1", (email,)
    ).fetchone()
    return None if row is None else (row[0], row[1])


def reset_token(conn, email: str) -> str:
    subject, body = newest_mail(conn, email)
    assert "password" in subject.lower(), subject
    return parse_qs(urlsplit(re.search(r"https?://\S+", body)[0]).query)["token"][0]


async def login(client, email: str, password: str):
    return await client.post("/auth/login", json={"email": email, "password": password})


async def test_the_owner_takes_back_an_account_someone_else_verified_on_their_address(client, conn, api_settings):
    """The state issue 22 left victims in (an attacker's verified account on their address, the attacker
    logged in): signup says taken, and the reset mailed to the address gives the owner the account."""
    conn.execute(
        "INSERT INTO users (email, username, password_hash) VALUES ('taken@example.com', 'Go to http://evil.example/verify,', %s)",
        (PasswordHasher().hash("attacker's password"),),
    )
    attacker = await login(client, "taken@example.com", "attacker's password")
    attackers_token = {"Authorization": f"Bearer {attacker.json()['access_token']}"}

    taken = await client.post("/auth/signup", json={"email": "taken@example.com", "password": PASSWORD, "username": "owner"})
    assert taken.status_code == 409 and "/auth/password-reset" in taken.json()["detail"]
    asked = await client.post("/auth/password-reset", json={"email": "Taken@Example.com"})
    assert asked.status_code == 202, asked.text
    _subject, body = newest_mail(conn, "taken@example.com")
    assert "evil" not in body and re.findall(r"https?://\S+", body) == [
        f"{api_settings.password_reset_url}?token={reset_token(conn, 'taken@example.com')}"
    ]
    done = await client.post(
        "/auth/password-reset/confirm", json={"token": reset_token(conn, "taken@example.com"), "password": PASSWORD}
    )
    assert done.status_code == 200 and done.json()["email"] == "taken@example.com", done.text

    assert (await client.get("/me", headers=attackers_token)).status_code == 401  # every session ended
    assert (await login(client, "taken@example.com", "attacker's password")).status_code == 401
    assert (await login(client, "taken@example.com", PASSWORD)).status_code == 200


async def test_a_reset_link_works_once_and_only_the_newest(client, conn, make_account):
    account = await make_account()
    await client.post("/auth/password-reset", json={"email": account.email})
    first = reset_token(conn, account.email)
    await client.post("/auth/password-reset", json={"email": account.email})
    second = reset_token(conn, account.email)
    assert (
        await client.post("/auth/password-reset/confirm", json={"token": first, "password": "first new one"})
    ).status_code == 404
    assert (
        await client.post("/auth/password-reset/confirm", json={"token": second, "password": "second new one"})
    ).status_code == 200
    assert (
        await client.post("/auth/password-reset/confirm", json={"token": second, "password": "third new one"})
    ).status_code == 404
    assert (await login(client, account.email, "second new one")).status_code == 200
    short = await client.post("/auth/password-reset/confirm", json={"token": second, "password": "short"})
    assert short.status_code == 422

    conn.execute("UPDATE password_resets SET expires_at = settlement_now()")
    await client.post("/auth/password-reset", json={"email": account.email})
    conn.execute("UPDATE password_resets SET expires_at = settlement_now() - interval '1 second'")
    expired = reset_token(conn, account.email)
    assert (
        await client.post("/auth/password-reset/confirm", json={"token": expired, "password": "too late now"})
    ).status_code == 404


async def test_asking_tells_nothing_and_mails_only_a_verified_account(client, conn):
    pending = await client.post("/auth/signup", json={"email": "pending@example.com", "password": PASSWORD, "username": "p"})
    assert pending.status_code == 201
    before = conn.execute("SELECT count(*) FROM email_outbox").fetchone()[0]
    answers = [
        await client.post("/auth/password-reset", json={"email": email})
        for email in ("nobody@example.com", "pending@example.com")
    ]
    assert {answer.status_code for answer in answers} == {202} and answers[0].json() == answers[1].json()
    assert conn.execute("SELECT count(*) FROM email_outbox").fetchone()[0] == before  # a pending signup signs up again


async def test_asking_is_throttled_per_address_and_per_account(app_with, conn):
    app = await app_with(password_reset_address_limits="3/hour", password_reset_account_limits="2/hour")
    async with client_of(app, "203.0.113.30") as client:
        statuses = [(await client.post("/auth/password-reset", json={"email": "same@example.com"})).status_code for _ in range(3)]
        assert statuses == [202, 202, 429]
    async with client_of(app, "203.0.113.31") as client:
        statuses = [
            (await client.post("/auth/password-reset", json={"email": f"n{n}@example.com"})).status_code for n in range(4)
        ]
        assert statuses == [202, 202, 202, 429]


async def test_the_reset_pages_ask_for_the_address_then_the_new_password(client, conn, make_account):
    account = await make_account()
    studio_login = await client.get("/studio/login")
    assert 'href="/forgot-password"' in studio_login.text
    form = await client.get("/forgot-password")
    assert form.status_code == 200 and 'action="/forgot-password"' in form.text and "<script" not in form.text
    sent = await client.post("/forgot-password", content=urlencode({"email": account.email}).encode(), headers=FORM)
    assert sent.status_code == 202 and "mail" in sent.text
    token = reset_token(conn, account.email)
    page = await client.get("/reset-password", params={"token": token})
    assert page.status_code == 200 and 'type="password"' in page.text and page.headers["referrer-policy"] == "no-referrer"
    short = await client.post("/reset-password", content=urlencode({"token": token, "password": "short"}).encode(), headers=FORM)
    assert short.status_code == 422 and "8 characters" in short.text
    done = await client.post(
        "/reset-password", content=urlencode({"token": token, "password": "a new password"}).encode(), headers=FORM
    )
    assert done.status_code == 200 and 'href="/studio/login"' in done.text
    assert (await client.get("/me", headers=account.headers)).status_code == 401
    assert (await login(client, account.email, "a new password")).status_code == 200
    elsewhere = await client.post(
        "/reset-password",
        content=urlencode({"token": token, "password": "x" * 10}).encode(),
        headers={**FORM, "origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403
