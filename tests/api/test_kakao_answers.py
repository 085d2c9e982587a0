"""What Kakao (or whoever answers in its place) sends back is checked against a schema and read only
up to a bound; a login state works once; the provider's words are not repeated to the client."""

import logging
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from api.auth.router import KAKAO_STATE_COOKIE
from api.logs import RedactSecretQueries, redacted_path
from tests.api.conftest import BASE_URL, Flood, client_of
from tests.api.test_kakao import kakao_login

HOSTILE_USER_INFO = {
    "id is true": {"id": True},
    "id is a string": {"id": "4242"},
    "id past bigint": {"id": 2**63},
    "no id": {"kakao_account": {}},
    "account is a list": {"id": 4242, "kakao_account": []},
    "profile is a string": {"id": 4242, "kakao_account": {"profile": "kakao user"}},
    "nickname is a number": {"id": 4242, "kakao_account": {"profile": {"nickname": 7}}},
    "email is an object": {"id": 4242, "kakao_account": {"email": {"a": 1}}},
    "a list": [4242],
    "not JSON": b"<html>maintenance</html>",
}


@pytest.mark.parametrize("answer", HOSTILE_USER_INFO.values(), ids=HOSTILE_USER_INFO)
async def test_an_unexpected_user_info_is_a_502(client, conn, fake_kakao, answer):
    fake_kakao.answers["user info"] = (200, {}, answer)
    response = await kakao_login(client, fake_kakao)
    assert response.status_code == 502, response.text
    assert response.json()["detail"] == "Kakao login failed at the user info: try again later"
    assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 0


@pytest.mark.parametrize("declared", [True, False], ids=["with Content-Length", "chunked"])
async def test_a_huge_user_info_is_refused_unread(client, fake_kakao, api_settings, declared):
    fake_kakao.answers["user info"] = (200, {}, Flood(50 * 1024 * 1024, declared))
    started = time.perf_counter()
    response = await kakao_login(client, fake_kakao)
    assert response.status_code == 502
    assert time.perf_counter() - started < 5
    if not declared:  # read only up to the bound (plus what the sockets buffered)
        assert fake_kakao.bytes_sent < 16 * 1024 * 1024


async def test_a_long_nickname_is_clipped_as_signup_would(client, fake_kakao):
    fake_kakao.account = {"id": 5151, "email": None, "nickname": "  " + "닉" * 5000}
    response = await kakao_login(client, fake_kakao)
    me = (await client.get("/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})).json()
    assert me["username"] == "닉" * 50


async def test_the_providers_words_are_not_repeated(client, fake_kakao):
    fake_kakao.answers["token"] = (400, {}, {"error": "invalid_grant", "error_description": "PROVIDER SAYS <script>"})
    failed = await kakao_login(client, fake_kakao)
    assert failed.status_code == 502 and "PROVIDER" not in failed.text and "invalid_grant" not in failed.text

    for error, shown in (("access_denied", "access_denied"), ("<b>made up</b>", None)):
        start = await client.get("/auth/kakao/login")
        state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
        refused = await client.get(
            "/auth/kakao/callback", params={"state": state, "error": error, "error_description": "PROVIDER TEXT"}
        )
        assert refused.status_code == 400
        assert "PROVIDER TEXT" not in refused.text and "made up" not in refused.text
        assert (shown or "") in refused.json()["detail"]


async def test_a_login_state_works_once(client, app, fake_kakao):
    start = await client.get("/auth/kakao/login")
    nonce = start.cookies[KAKAO_STATE_COOKIE]
    async with httpx.AsyncClient() as browser:
        callback = (await browser.get(start.headers["location"])).headers["location"].removeprefix(BASE_URL)
    used = await client.get(callback)
    assert used.status_code == 200
    assert KAKAO_STATE_COOKIE in used.headers["set-cookie"] and "Max-Age=0" in used.headers["set-cookie"]
    # replayed with its cookie (by whoever captured both), within the state's lifetime
    async with client_of(app) as replaying:
        replayed = await replaying.get(callback, headers={"cookie": f"{KAKAO_STATE_COOKIE}={nonce}"})
    assert replayed.status_code == 403 and "used already" in replayed.json()["detail"]


def test_the_access_log_keeps_no_code_nor_state():
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/auth/kakao/callback?code=SECRET-CODE&state=SECRET.STATE&x=1", "1.1", 200), None,
    )  # fmt: skip
    assert RedactSecretQueries().filter(record)
    line = record.getMessage()
    assert "SECRET" not in line and "code=REDACTED" in line and "x=1" in line
    assert redacted_path("/videos?limit=5") == "/videos?limit=5"
