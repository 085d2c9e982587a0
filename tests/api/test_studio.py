"""The seller studio's pages through the ASGI client: sign-in (password and Kakao), the session cookie,
seller isolation, what the page says. The browser tests (test_studio_browser.py) check what a person sees."""

import asyncio
import datetime as dt
import re
from decimal import Decimal
from urllib.parse import urlsplit

import httpx
import pytest

from api.studio import demo_login
from api.studio.chart import nice_ceiling
from api.studio.formatting import watch_time, won
from tests.api.conftest import BASE_URL
from tests.api.test_stats import settled  # noqa: F401  (the settled scenario, as a fixture)

FORM = {"content-type": "application/x-www-form-urlencoded"}


async def sign_in(client, email: str, password: str = "correct horse", **headers) -> httpx.Response:
    return await client.post(
        "/studio/login", content=f"email={email}&password={password}".replace("@", "%40").encode(), headers={**FORM, **headers}
    )


@pytest.mark.parametrize(
    ("amount", "written"),
    [(12345, "₩12,345"), (-1234, "-₩1,234"), (0, "₩0"), (Decimal("12.99"), "₩12"), (Decimal("-7.9"), "-₩7"), (None, "—")],
)
def test_won_is_written_as_people_write_it_truncated(amount, written):
    assert won(amount) == written


def test_watch_time_and_chart_scale():
    assert watch_time(3 * 3600 + 5 * 60 + 7) == "3:05:07" and watch_time(4_000_000) == "1,111:06:40"
    assert [nice_ceiling(n) for n in (0, 1, 3, 7, 13, 101, 4999)] == [1, 1, 5, 10, 20, 200, 5000]


async def test_the_studio_asks_to_sign_in_and_its_pages_allow_no_script(client):
    page = await client.get("/studio")
    assert page.status_code == 303 and page.headers["location"] == "/studio/login"
    login = await client.get("/studio/login")
    assert login.status_code == 200 and 'action="/studio/login"' in login.text
    policy = login.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "form-action 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "<script" not in login.text and "http" not in re.sub(r'content="[^"]*"', "", login.text.split("<body>")[0])
    css = await client.get("/studio/assets/studio.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "/studio" not in str((await client.get("/openapi.json")).json()["paths"])  # pages, not API operations


async def test_sign_in_keeps_the_token_in_a_strict_httponly_cookie_for_the_studio_only(client, make_account):
    seller = await make_account("s", seller=True)
    wrong = await sign_in(client, seller.email, "wrong password")
    assert wrong.status_code == 401 and "Wrong email or password" in wrong.text and "set-cookie" not in wrong.headers

    response = await sign_in(client, seller.email)
    assert response.status_code == 303 and response.headers["location"] == "/studio"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("studio_session=")
    assert {"httponly", "samesite=strict", "path=/studio"} <= {part.strip().lower() for part in cookie.split(";")}
    # The cookie opens the studio, and nothing of the JSON API (it takes the token as a bearer header only).
    assert (await client.get("/studio/login")).status_code == 303
    session_cookie = f"studio_session={client.cookies['studio_session']}"
    assert (await client.get("/me", headers={"cookie": session_cookie})).status_code == 401

    out = await client.post("/studio/logout")
    assert out.status_code == 303 and 'studio_session=""' in out.headers["set-cookie"]
    client.cookies.clear()
    assert (await client.get("/studio")).status_code == 303


async def test_sign_out_ends_the_session_on_the_server(client, make_account):
    """Issue 22: signing out only dropped the cookie; a copy of it (another tab, a shared computer's
    browser profile, a stolen cookie) kept working until the token expired."""
    seller = await make_account("s", seller=True)
    assert (await sign_in(client, seller.email)).status_code == 303
    kept = client.cookies["studio_session"]
    assert (await client.get("/studio")).status_code == 200
    assert (await client.post("/studio/logout")).status_code == 303
    client.cookies.clear()
    replayed = await client.get("/studio", headers={"cookie": f"studio_session={kept}"})
    assert replayed.status_code == 303 and replayed.headers["location"] == "/studio/login"
    assert (await client.get("/me", headers={"Authorization": f"Bearer {kept}"})).status_code == 401
    # the seller's other sessions (the API login of make_account) go on
    assert (await client.get("/me", headers=seller.headers)).status_code == 200


async def test_a_sign_in_or_out_posted_from_another_site_is_refused(client, make_account):
    seller = await make_account("s", seller=True)
    for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}, {"origin": "null"}):
        response = await sign_in(client, seller.email, **headers)
        assert response.status_code == 403 and "set-cookie" not in response.headers, headers
    assert (await client.post("/studio/logout", headers={"sec-fetch-site": "cross-site"})).status_code == 403
    same_site = await sign_in(client, seller.email, origin=BASE_URL, **{"sec-fetch-site": "same-origin"})
    assert same_site.status_code == 303


async def test_a_sign_in_form_that_is_not_one_is_refused(client):
    too_many_fields = "&".join(f"f{n}=x" for n in range(10)).encode()
    for body in (too_many_fields, b"email=" + b"x" * 5000, b"\xff\xfe=\x00"):
        response = await client.post("/studio/login", content=body, headers=FORM)
        assert response.status_code in (400, 401) and "set-cookie" not in response.headers, body[:40]


async def test_a_user_who_is_not_a_seller_is_told_so(client, make_account):
    viewer = await make_account("viewer")
    await sign_in(client, viewer.email)
    page = await client.get("/studio")
    assert page.status_code == 403 and "sellers only" in page.text


@pytest.mark.calendar
async def test_the_overview_shows_the_sellers_own_results_with_status_and_won(client, settled, event_day):  # noqa: F811
    seller_a, _seller_b, videos = settled
    await sign_in(client, seller_a.email)
    page = await client.get("/studio", params={"period": "day", "date": str(event_day)})
    assert page.status_code == 200, page.text
    assert 'id="total-payout">₩13<' in page.text and 'data-status="settled"' in page.text
    assert f'data-video-id="{videos["long"]["id"]}"' in page.text
    listed = set(map(int, re.findall(r'<tr class="video" data-video-id="(\d+)"', page.text)))
    assert listed == {videos["long"]["id"], videos["short"]["id"]}
    assert f'href="/studio/videos/{videos["other"]["id"]}?' not in page.text
    assert "1 event not counted: implausible watch time" in page.text
    assert re.search(r"studio;dur=\d", page.headers["server-timing"])

    # Opens on the latest settled day; today is pending, not zero.
    assert 'id="total-payout">₩13<' in (await client.get("/studio")).text
    today = await client.get("/studio", params={"period": "day", "date": str(event_day + dt.timedelta(days=1))})
    assert 'data-status="pending"' in today.text and "not known yet (not zero)" in today.text

    theirs = await client.get(f"/studio/videos/{videos['other']['id']}")
    assert theirs.status_code == 403 and "own" in theirs.text and f"#{videos['other']['id']}" not in theirs.text
    mine = await client.get(f"/studio/videos/{videos['long']['id']}", params={"period": "week", "date": str(event_day)})
    assert mine.status_code == 200 and f'data-day="{event_day}" data-status="settled" data-payout="12"' in mine.text
    assert (await client.get("/studio/videos/999999")).status_code == 404


async def test_kakao_sign_in_started_in_the_studio_lands_in_the_studio(client, fake_kakao, conn):
    start = await client.get("/studio/kakao")
    assert start.status_code == 303 and start.headers["location"] == "/auth/kakao/login"
    assert "path=/auth/kakao" in start.headers["set-cookie"].lower()
    to_kakao = await client.get("/auth/kakao/login")
    async with httpx.AsyncClient() as browser:
        provider = await browser.get(to_kakao.headers["location"])
    callback = urlsplit(provider.headers["location"])
    landed = await client.get(f"{callback.path}?{callback.query}")
    assert landed.status_code == 200 and 'http-equiv="refresh" content="0;url=/studio"' in landed.text
    assert "studio_session=" in landed.headers["set-cookie"]
    # Signed in as the Kakao user (a plain user: the studio says it is for sellers).
    user_id = conn.execute("SELECT id FROM users WHERE kakao_id = %s", (fake_kakao.account["id"],)).fetchone()[0]
    studio = await client.get("/studio")
    assert studio.status_code == 403 and f'data-user-id="{user_id}"' in studio.text and "sellers only" in studio.text

    # Without the studio's mark the callback answers the API's JSON as before.
    client.cookies.clear()
    to_kakao = await client.get("/auth/kakao/login")
    async with httpx.AsyncClient() as browser:
        provider = await browser.get(to_kakao.headers["location"])
    callback = urlsplit(provider.headers["location"])
    assert "access_token" in (await client.get(f"{callback.path}?{callback.query}")).json()


async def test_the_demo_login_is_the_top_earning_seller_and_opens_the_studio(client, settled, database_url):  # noqa: F811
    seller_a, _, _ = settled  # seller A earned 13, seller B 1
    email, password = await asyncio.to_thread(demo_login.seller_login, database_url)  # sync, as the CLI calls it
    assert email == seller_a.email and password == demo_login.DEMO_SELLER_PASSWORD
    assert (await sign_in(client, email, password)).status_code == 303
    assert 'id="total-payout">₩13<' in (await client.get("/studio")).text


async def test_a_platform_that_never_settled_opens_the_studio_on_pending_days(client, make_account, event_day, never_settled):
    """Issue 22: before the first settlement the studio showed the API's 404 naming the engine's tables."""
    seller = await make_account("s", seller=True)
    await sign_in(client, seller.email)
    for params in ({}, {"period": "week", "date": str(event_day)}, {"period": "month", "date": str(event_day)}):
        page = await client.get("/studio", params=params)
        assert page.status_code == 200, page.text[:500]
        assert 'data-status="pending"' in page.text and "not known yet (not zero)" in page.text
        assert "analytics" not in page.text and "settlement run" not in page.text
