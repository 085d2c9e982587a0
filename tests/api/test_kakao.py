"""The Kakao authorization-code flow against a fake provider on 127.0.0.1 (real HTTP)."""

from urllib.parse import parse_qs, urlsplit

import httpx

from tests.api.conftest import BASE_URL


async def kakao_login(client, fake_kakao) -> httpx.Response:
    """Our login redirect -> the provider's authorize page -> back to our callback."""
    start = await client.get("/auth/kakao/login")
    assert start.status_code == 307, start.text
    authorize_url = start.headers["location"]
    assert authorize_url.startswith(f"{fake_kakao.base_url}/oauth/authorize?")
    async with httpx.AsyncClient() as browser:
        provider = await browser.get(authorize_url)
    assert provider.status_code == 302
    callback = provider.headers["location"]
    assert callback.startswith(f"{BASE_URL}/auth/kakao/callback?")
    return await client.get(callback.removeprefix(BASE_URL))


async def test_first_login_creates_the_user_and_the_next_finds_it(client, fake_kakao, conn):
    first = await kakao_login(client, fake_kakao)
    assert first.status_code == 200, first.text
    me = await client.get("/me", headers={"Authorization": f"Bearer {first.json()['access_token']}"})
    assert me.json()["email"] == "kakao.user@example.com" and me.json()["kakao_linked"] is True

    second = await kakao_login(client, fake_kakao)
    me_again = await client.get("/me", headers={"Authorization": f"Bearer {second.json()['access_token']}"})
    assert me_again.json()["id"] == me.json()["id"]
    assert conn.execute("SELECT count(*), min(kakao_id) FROM users").fetchone() == (1, fake_kakao.account["id"])


async def test_authorize_url_carries_client_redirect_and_state(client, api_settings):
    start = await client.get("/auth/kakao/login")
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["client_id"] == [api_settings.kakao_client_id]
    assert query["redirect_uri"] == [api_settings.kakao_redirect_uri]
    assert query["response_type"] == ["code"] and query["state"][0]


async def test_callback_rejects_a_state_it_did_not_issue_to_this_browser(client, app, fake_kakao):
    start = await client.get("/auth/kakao/login")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]

    forged = await client.get("/auth/kakao/callback", params={"code": "x", "state": state + "x"})
    assert forged.status_code == 403 and "state" in forged.json()["detail"]

    # The right state from another browser (without the login cookie) fails too.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as other_browser:
        stolen = await other_browser.get("/auth/kakao/callback", params={"code": "x", "state": state})
    assert stolen.status_code == 403


async def test_a_refused_login_or_a_reused_code_is_reported(client, fake_kakao):
    start = await client.get("/auth/kakao/login")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    refused = await client.get("/auth/kakao/callback", params={"state": state, "error": "access_denied"})
    assert refused.status_code == 400 and "access_denied" in refused.json()["detail"]

    # (a state works once: the code is used again with the state of a new login)
    start = await client.get("/auth/kakao/login")
    async with httpx.AsyncClient() as browser:
        callback = (await browser.get(start.headers["location"])).headers["location"].removeprefix(BASE_URL)
    assert (await client.get(callback)).status_code == 200
    code = parse_qs(urlsplit(callback).query)["code"][0]
    new_start = await client.get("/auth/kakao/login")
    new_state = parse_qs(urlsplit(new_start.headers["location"]).query)["state"][0]
    reused = await client.get("/auth/kakao/callback", params={"code": code, "state": new_state})
    assert reused.status_code == 502 and "token exchange" in reused.json()["detail"]


async def test_kakao_email_of_a_password_account_is_not_taken_over(client, fake_kakao, make_account):
    account = await make_account("owner")
    fake_kakao.account = {"id": 777, "email": account.email, "nickname": "someone"}
    response = await kakao_login(client, fake_kakao)
    assert response.status_code == 409


async def test_kakao_account_without_email_gets_a_placeholder(client, fake_kakao):
    fake_kakao.account = {"id": 778, "email": None, "nickname": "no mail"}
    response = await kakao_login(client, fake_kakao)
    me = await client.get("/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    assert me.json()["email"] == "kakao-778@users.kakao.invalid" and me.json()["username"] == "no mail"
