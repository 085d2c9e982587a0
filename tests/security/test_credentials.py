"""Passwords never leave the server (responses, logs); forged, unsigned, expired or misused tokens are
refused on every operation that needs a login; the Kakao login state resists tampering.

tests/api/test_kakao.py covers a tampered state and a state used without its cookie (another
browser); the Kakao cases here are the ones it does not.
"""

import base64
import datetime as dt
import json
import logging
import secrets
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from api.auth.router import KAKAO_STATE_COOKIE
from api.auth.service import ACCESS_PURPOSE, JWT_ALGORITHM, KAKAO_STATE_PURPOSE, issue_token, kakao_state_is_valid
from settlement import clock
from tests.api.conftest import BASE_URL, verify_email
from tests.security.spec import build, operations

PASSWORD = "Tr0ub4dor&3 stays secret"


async def test_passwords_are_neither_returned_nor_logged(client, conn, caplog):
    caplog.set_level(logging.DEBUG)
    wrong, short, long = "Wrong-but-secret 42", "S3cr3t!", PASSWORD * 20
    email = "careful@example.com"
    attempts = [
        ("/auth/signup", {"email": email, "password": PASSWORD, "username": "careful"}),
        ("/auth/signup", {"email": email, "password": PASSWORD, "username": "again"}),  # taken
        ("/auth/signup", {"email": "b@example.com", "password": short, "username": "b"}),  # too short
        ("/auth/signup", {"email": "c@example.com", "password": long, "username": "c"}),  # too long
        ("/auth/signup", {"password": PASSWORD, "username": "no email"}),
        ("/auth/signup", {"email": ["d@example.com"], "password": PASSWORD, "username": "d"}),
        ("/auth/signup", [email, PASSWORD]),
        ("/auth/login", {"email": email, "password": PASSWORD}),
        ("/auth/login", {"email": email, "password": wrong}),
        ("/auth/login", {"email": "nobody@example.com", "password": PASSWORD}),
        ("/auth/login", {"email": {"address": email}, "password": PASSWORD}),
        ("/auth/login", {"password": long}),
    ]
    statuses = []
    for path, body in attempts:
        response = await client.post(path, json=body)
        statuses.append(response.status_code)
        for secret in (PASSWORD, wrong, short, "$argon2"):
            assert secret not in response.text, f"{path} {body!r} answered {response.status_code} {response.text}"
        if len(statuses) == 1:  # the account verified: taken, and able to log in
            assert (await verify_email(client, conn, email, PASSWORD)).status_code == 200
    assert statuses == [201, 409, 422, 422, 422, 422, 422, 200, 401, 401, 422, 422]

    assert "/auth/login" in caplog.text  # the log was captured
    logged = caplog.text + "".join(f"{record.args!r}{record.exc_text}" for record in caplog.records)
    for secret in (PASSWORD, wrong, short):
        assert secret not in logged


def unsigned(claims: dict) -> str:
    """A token with "alg": "none" and no signature."""
    part = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def bad_tokens(secret: str, user_id: int) -> dict[str, str]:
    now = clock.now()
    claims = {"sub": str(user_id), "purpose": ACCESS_PURPOSE, "iat": now, "exp": now + dt.timedelta(hours=1)}
    epoch = {**claims, "iat": int(now.timestamp()), "exp": int((now + dt.timedelta(hours=1)).timestamp())}
    valid = jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)
    return {
        "wrong signature": jwt.encode(claims, "another secret, just as long as the real one", algorithm=JWT_ALGORITHM),
        "alg none": unsigned(epoch),
        "expired": jwt.encode(
            {**claims, "iat": now - dt.timedelta(hours=2), "exp": now - dt.timedelta(seconds=1)}, secret, algorithm=JWT_ALGORITHM
        ),
        "other algorithm": jwt.encode(claims, secret, algorithm="HS512"),
        "no expiry": jwt.encode({"sub": str(user_id), "purpose": ACCESS_PURPOSE}, secret, algorithm=JWT_ALGORITHM),
        "Kakao state token": issue_token(secret, KAKAO_STATE_PURPOSE, str(user_id), dt.timedelta(minutes=5)),
        "cut signature": valid[:-3],
        "empty": "",
        # signed by us, but naming no session (a token from before sessions were kept) or one that ended
        "no session": valid,
        "ended session": jwt.encode({**claims, "sid": str(uuid.uuid4())}, secret, algorithm=JWT_ALGORITHM),
        "malformed session": jwt.encode({**claims, "sid": "1' OR '1'='1"}, secret, algorithm=JWT_ALGORITHM),
    }


@pytest.mark.filterwarnings("ignore:The HMAC key is .* bytes long")  # the HS512 token's, on purpose
async def test_bad_tokens_are_refused_on_every_operation_that_needs_a_login(client, app, platform):
    seller = platform["seller"]
    guarded = [operation for operation in operations() if "UserToken" in operation.security_schemes]
    assert len(guarded) >= 5
    tokens = bad_tokens(app.state.jwt_secret, seller.id)
    problems = []
    for operation in guarded:
        request, _ = build(operation, platform["known"])

        def send(token, request=request):
            return client.request(
                request.method,
                request.url,
                content=request.content,
                headers={**request.headers, "authorization": f"Bearer {token}"},
            )

        # a session of its own for each operation: one of them (POST /auth/logout) ends the token it is sent
        login = await client.post("/auth/login", json={"email": seller.email, "password": "correct horse"})
        accepted = await send(login.json()["access_token"])
        if accepted.status_code == 401:
            problems.append(f"{operation}: the valid token was refused: {accepted.text}")
        for name, token in tokens.items():
            response = await send(token)
            if response.status_code != 401 or response.headers.get("www-authenticate") != "Bearer":
                problems.append(f"{operation} with {name}: {response.status_code} {response.text[:200]}")
    assert not problems, "\n".join(problems)


async def kakao_start(client) -> tuple[str, str]:
    """(state, the nonce cookie) of a login started by this client."""
    start = await client.get("/auth/kakao/login")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    return state, start.cookies[KAKAO_STATE_COOKIE]


async def callback(app, state: str, cookie: bytes | None) -> httpx.Response:
    """The callback from a browser with exactly this cookie header (or none)."""
    headers = {"cookie": b"%s=%s" % (KAKAO_STATE_COOKIE.encode(), cookie)} if cookie is not None else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as browser:
        return await browser.get("/auth/kakao/callback", params={"code": "x", "state": state}, headers=headers)


async def test_kakao_state_with_a_hostile_cookie_is_refused(client, app):
    state, nonce = await kakao_start(client)
    for cookie in ("ü".encode(), "\U0001f525".encode(), nonce.encode() + "é".encode(), b"x" * 8000, b"", nonce.encode()[:-1]):
        response = await callback(app, state, cookie)
        assert response.status_code == 403, (cookie[:20], response.status_code, response.text)
    assert not kakao_state_is_valid(app.state.jwt_secret, state, nonce + "\udcff")


async def test_kakao_state_that_expired_or_is_not_a_state_is_refused(client, app):
    secret = app.state.jwt_secret
    nonce = secrets.token_urlsafe(16)
    now = int(clock.now().timestamp())
    states = {
        "expired": issue_token(secret, KAKAO_STATE_PURPOSE, nonce, dt.timedelta(seconds=-1)),
        "an access token": issue_token(secret, ACCESS_PURPOSE, nonce, dt.timedelta(minutes=5)),
        "unsigned": unsigned({"sub": nonce, "purpose": KAKAO_STATE_PURPOSE, "exp": now + 300}),
        "signed elsewhere": issue_token(
            "another secret, just as long as the real one", KAKAO_STATE_PURPOSE, nonce, dt.timedelta(minutes=5)
        ),
    }
    for name, state in states.items():
        response = await callback(app, state, nonce.encode())
        assert response.status_code == 403, (name, response.status_code, response.text)
    fresh = issue_token(secret, KAKAO_STATE_PURPOSE, nonce, dt.timedelta(minutes=5))
    assert kakao_state_is_valid(secret, fresh, nonce)  # the same cookie with a good state would do
