"""Password accounts start unverified and log in once the link mailed through the outbox is
followed; an unverified signup never blocks the owner of the email."""

import asyncio
import logging
import re
import uuid
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.email.senders import OutgoingEmail
from api.main import create_app
from api.schemas import VISIBLE
from tests.api.conftest import client_of, verification_link, verification_token, verify_email
from tests.api.test_kakao import kakao_login

PASSWORD = "correct horse"


async def signup(client, email: str, password: str = PASSWORD, username: str = "someone"):
    return await client.post("/auth/signup", json={"email": email, "password": password, "username": username})


async def login(client, email: str, password: str = PASSWORD):
    return await client.post("/auth/login", json={"email": email, "password": password})


async def follow(client, token: str, password: str = PASSWORD):
    """What the page a verification link opens sends: the link's token and the password typed."""
    return await client.post("/auth/verify-email", json={"token": token, "password": password})


async def test_an_account_logs_in_once_its_link_is_followed(client, conn):
    created = await signup(client, "new@example.com")
    assert created.status_code == 201 and created.json()["email_verified"] is False
    refused = await login(client, "new@example.com")
    assert refused.status_code == 403 and "confirm your email" in refused.json()["detail"]
    assert (await login(client, "new@example.com", "wrong password")).status_code == 401  # no hint without the password

    verified = await verify_email(client, conn, "new@example.com")
    assert verified.status_code == 200 and verified.json()["email_verified"] is True
    assert (await login(client, "new@example.com")).status_code == 200


async def test_a_link_works_once_and_not_after_it_expires(client, conn):
    await signup(client, "once@example.com")
    token = verification_token(conn, "once@example.com")
    assert (await follow(client, token)).status_code == 200
    assert (await follow(client, token)).status_code == 404

    await signup(client, "late@example.com")
    conn.execute("UPDATE email_verifications SET expires_at = settlement_now() - interval '1 second'")
    assert (await verify_email(client, conn, "late@example.com")).status_code == 404
    assert (await login(client, "late@example.com")).status_code == 403


async def test_the_outbox_holds_the_link_and_the_development_sender_logs_it(client, conn, caplog):
    caplog.set_level(logging.INFO, logger="api.email")
    await signup(client, "mailed@example.com")
    link = verification_link(conn, "mailed@example.com")
    assert link.startswith("http://127.0.0.1:8000/verify-email?token=")
    for _ in range(50):
        if conn.execute("SELECT sent_at IS NOT NULL FROM email_outbox WHERE recipient = 'mailed@example.com'").fetchone()[0]:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the outbox message was not delivered")
    assert link in caplog.text
    # the token is stored as a digest only
    token = verification_token(conn, "mailed@example.com").encode()
    assert [token not in bytes(row[0]) for row in conn.execute("SELECT token_hash FROM email_verifications")] == [True]


async def test_a_squatter_does_not_block_the_owner_who_signs_up(client, conn):
    assert (await signup(client, "owner@example.com", "squatter's password", "squatter")).status_code == 201
    squatter_token = verification_token(conn, "owner@example.com")
    assert (await signup(client, "owner@example.com", PASSWORD, "owner")).status_code == 201  # not 409
    owner = await verify_email(client, conn, "owner@example.com")
    assert owner.status_code == 200 and owner.json()["username"] == "owner"
    assert (await follow(client, squatter_token, "squatter's password")).status_code == 404
    assert (await login(client, "owner@example.com", "squatter's password")).status_code == 401
    assert (await login(client, "owner@example.com")).status_code == 200
    assert (await signup(client, "owner@example.com", "another password")).status_code == 409  # now it is taken


async def test_a_pre_registered_email_is_not_handed_to_whoever_signed_up_first(client, conn):
    """Issue 22's account pre-hijack: the attacker signs up the victim's email with the attacker's password,
    then the victim signs up. The victim following the first mail verified the attacker's signup: the
    attacker's password logged in, the victim's link answered 404, their login 401, a new signup 409."""
    assert (await signup(client, "victim@example.com", "attacker's password", "attacker")).status_code == 201
    first_mail = verification_token(conn, "victim@example.com")
    assert (await signup(client, "victim@example.com", PASSWORD, "victim")).status_code == 201
    second_mail = verification_token(conn, "victim@example.com")

    # the victim opens the first mail, and types their own password as the page asks
    assert (await follow(client, first_mail)).status_code == 404  # replaced by the newer signup
    assert (await follow(client, first_mail, "attacker's password")).status_code == 404
    assert (await login(client, "victim@example.com", "attacker's password")).status_code == 401
    own = await follow(client, second_mail)
    assert own.status_code == 200 and own.json()["username"] == "victim", own.text
    assert (await login(client, "victim@example.com")).status_code == 200
    assert (await login(client, "victim@example.com", "attacker's password")).status_code == 401


async def test_a_link_verifies_only_with_the_password_of_its_signup(client, conn, api_settings):
    """The attacker signs up after the victim: the newest link is the attacker's signup, and only its
    password verifies it, which the victim does not have; signing up again takes the address back."""
    await signup(client, "owner2@example.com", PASSWORD, "owner")
    owners_mail = verification_token(conn, "owner2@example.com")
    await signup(client, "owner2@example.com", "attacker's password", "attacker")
    attackers_mail = verification_token(conn, "owner2@example.com")
    assert (await follow(client, owners_mail)).status_code == 404  # replaced by the newer signup
    refused = await follow(client, attackers_mail)
    assert refused.status_code == 403 and "sign up again" in refused.json()["detail"], refused.text
    assert (await login(client, "owner2@example.com", "attacker's password")).status_code == 403  # not verified

    await signup(client, "owner2@example.com", PASSWORD, "owner")  # the owner takes the address back
    assert (await follow(client, attackers_mail, "attacker's password")).status_code == 404
    assert (await follow(client, verification_token(conn, "owner2@example.com"))).status_code == 200
    assert (await login(client, "owner2@example.com")).status_code == 200


async def test_a_link_dies_after_a_few_wrong_passwords(client, conn, api_settings):
    await signup(client, "typist@example.com")
    token = verification_token(conn, "typist@example.com")
    for _ in range(api_settings.email_verification_max_attempts):
        assert (await follow(client, token, "not the password")).status_code == 403
    assert (await follow(client, token)).status_code == 404
    assert (await login(client, "typist@example.com")).status_code == 403


def mail_without_its_token(conn, email: str) -> str:
    body = conn.execute("SELECT body FROM email_outbox WHERE recipient = %s ORDER BY id DESC LIMIT 1", (email,)).fetchone()[0]
    return body.replace(verification_token(conn, email), "TOKEN")


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    username=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=50).filter(
        lambda name: re.search(VISIBLE, name)
    )
)
async def test_the_mail_names_nothing_the_signup_chose(client, conn, api_settings, username):
    """Issue 22: the username was printed in the mail to any address ("Hello Go to http://evil.example/verify,").
    Whatever the signup sent, the mail is the same text around its link, and its one address is ours."""
    email = f"mail-{uuid.uuid4().hex[:8]}@example.com"
    assert (await signup(client, email, username=username)).status_code == 201
    await signup(client, "reference@example.com", username="reference")
    body = mail_without_its_token(conn, email)
    assert body == mail_without_its_token(conn, "reference@example.com")
    assert re.findall(r"https?://\S+", body) == [f"{api_settings.email_verification_url}?token=TOKEN"]
    assert "@" not in body


async def test_a_squatter_does_not_block_the_owner_who_logs_in_with_kakao(client, conn, fake_kakao):
    fake_kakao.account = {"id": 9001, "email": "kakao.owner@example.com", "nickname": "owner"}
    assert (await signup(client, "kakao.owner@example.com", "squatter's password", "squatter")).status_code == 201
    squatter_token = verification_token(conn, "kakao.owner@example.com")
    first = await kakao_login(client, fake_kakao)
    assert first.status_code == 200, first.text
    me = (await client.get("/me", headers={"Authorization": f"Bearer {first.json()['access_token']}"})).json()
    assert (me["email"], me["username"], me["kakao_linked"], me["email_verified"]) == (
        "kakao.owner@example.com",
        "owner",
        True,
        True,
    )
    assert (await follow(client, squatter_token, "squatter's password")).status_code == 404
    assert (await login(client, "kakao.owner@example.com", "squatter's password")).status_code == 401
    assert (await kakao_login(client, fake_kakao)).status_code == 200  # and every later login


@pytest.mark.parametrize("claimed", ["true", 1, None, "missing"])
async def test_a_kakao_email_counts_only_when_verified_is_json_true(client, conn, fake_kakao, claimed):
    fake_kakao.account = {"id": 9002, "email": "maybe@example.com", "nickname": "maybe", "is_email_verified": claimed}
    if claimed == "missing":
        fake_kakao.account["is_email_verified"] = None
    await signup(client, "maybe@example.com", username="squatter")
    response = await kakao_login(client, fake_kakao)
    assert response.status_code == 200, response.text
    me = (await client.get("/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})).json()
    assert me["email"] == "kakao-9002@users.kakao.invalid"  # the unverified email is not taken as the user's
    # and the unverified claim did not clear the other signup of that email
    assert (await verify_email(client, conn, "maybe@example.com")).status_code == 200


class RecordingSender:
    sent: ClassVar[list[OutgoingEmail]] = []

    def __init__(self, settings) -> None:
        pass

    async def send(self, message: OutgoingEmail) -> None:
        RecordingSender.sent.append(message)


class FailingSender:
    def __init__(self, settings) -> None:
        pass

    async def send(self, message: OutgoingEmail) -> None:
        raise ConnectionError("the mail server is down")


async def wait_for(condition, seconds: float = 5.0) -> bool:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_the_sender_is_pluggable_and_a_failed_delivery_is_tried_again(app_with, api_settings, conn):
    recording = create_app(api_settings.model_copy(update={"email_sender": "tests.api.test_verification:RecordingSender"}))
    # stopped before the failing app starts: its outbox task must not deliver the failing app's mail
    async with recording.router.lifespan_context(recording), client_of(recording) as client:
        await signup(client, "plugged@example.com")
        assert await wait_for(lambda: any(m.recipient == "plugged@example.com" for m in RecordingSender.sent))
    [message] = [m for m in RecordingSender.sent if m.recipient == "plugged@example.com"]
    assert verification_link(conn, "plugged@example.com") in message.body

    failing = await app_with(email_sender="tests.api.test_verification:FailingSender", email_outbox_poll_seconds=0.1)
    async with client_of(failing) as client:
        await signup(client, "unlucky@example.com")
    attempts = "SELECT attempts, sent_at, last_error FROM email_outbox WHERE recipient = 'unlucky@example.com'"
    assert await wait_for(lambda: conn.execute(attempts).fetchone()[0] >= 2)
    _tries, sent_at, error = conn.execute(attempts).fetchone()
    assert sent_at is None and error == "ConnectionError"
