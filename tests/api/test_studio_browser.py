"""The seller studio in a real browser: Debian's chromium, headless, driven by Playwright (never
`playwright install`: `make test` installs the chromium package when missing). The API runs under
uvicorn on 127.0.0.1 against the test database; the browser may reach nothing else (every other
request is aborted and reported), so the page works offline. Screenshots go to the test's tmp_path.
"""

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, async_playwright

from api.studio.formatting import watch_time, won
from settlement import closing
from settlement.config import PROJECT_ROOT
from settlement.pipeline import run_days
from tests.api.test_payments import built, paid_month  # noqa: F401  (fixtures)
from tests.api.test_stats import load_scenario, watch
from tests.servers import free_port, wait_until_serving

CHROMIUM = os.environ.get("SETTLEMENT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PASSWORD = "correct horse"  # tests/api/conftest.py make_account's


@pytest.fixture(scope="session")
def chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no chromium at {CHROMIUM}: the studio's browser tests need Debian's chromium package "
            "(`make test` installs it with apt-get; or `apt-get install chromium`, or set SETTLEMENT_CHROMIUM)"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def live_api(api_settings, database_url, kakao_server, tmp_path_factory):
    """The app under uvicorn on a free 127.0.0.1 port, on the test database, Kakao pointing at the fake."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SETTLEMENT_JWT_SECRET": api_settings.jwt_secret.get_secret_value(),
        "SETTLEMENT_KAKAO_CLIENT_ID": kakao_server.client_id,
        "SETTLEMENT_KAKAO_CLIENT_SECRET": kakao_server.client_secret,
        "SETTLEMENT_KAKAO_REDIRECT_URI": f"{base_url}/auth/kakao/callback",
        "SETTLEMENT_KAKAO_AUTHORIZE_URL": f"{kakao_server.base_url}/oauth/authorize",
        "SETTLEMENT_KAKAO_TOKEN_URL": f"{kakao_server.base_url}/oauth/token",
        "SETTLEMENT_KAKAO_USER_INFO_URL": f"{kakao_server.base_url}/v2/user/me",
        # the suite's hashing cost (tests/api/conftest.py): its logins need no new hash of the password
        "SETTLEMENT_PASSWORD_HASH_TIME_COST": str(api_settings.password_hash_time_cost),
        "SETTLEMENT_PASSWORD_HASH_MEMORY_KIB": str(api_settings.password_hash_memory_kib),
    }
    log = tmp_path_factory.mktemp("studio") / "uvicorn.log"
    command = [
        sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=output, stderr=output)
    try:
        wait_until_serving(process, f"{base_url}/studio/login", log)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
async def browser(chromium):
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser, live_api, kakao_server, tmp_path):
    """A fresh browser profile that may load only from the API (and the fake Kakao, for its login)."""
    context = await browser.new_context(base_url=live_api, viewport={"width": 1200, "height": 900})
    allowed = (live_api, kakao_server.base_url)
    blocked: list[str] = []

    async def only_local(route):
        if route.request.url.startswith(allowed):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_local)
    opened = await context.new_page()
    yield opened
    await context.close()
    assert blocked == [], f"the page asked for something outside this server: {blocked}"


async def screenshot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


async def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    await page.goto("/studio")
    assert page.url.endswith("/studio/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#summary")


class Api:
    """The JSON API over HTTP, as the seller (a bearer token from /auth/login)."""

    def __init__(self, base_url: str, email: str):
        token = httpx.post(f"{base_url}/auth/login", json={"email": email, "password": PASSWORD}).json()["access_token"]
        self.http = httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"})

    async def get(self, path: str, **params) -> dict:
        response = await self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


async def settle(test_settings, day: dt.date) -> None:
    results = await asyncio.to_thread(run_days, test_settings, day)
    assert all(result.succeeded for result in results), results


@pytest.fixture
async def studio_data(client, make_account, add_ads, upload, event_day, api_settings, test_settings):
    """Two sellers. The day before yesterday settled and closed, then late events for it (an adjustment
    booked yesterday); yesterday settled with views of its own; today pending."""
    closed_day, next_day = event_day - dt.timedelta(days=1), event_day

    def at_on(day):
        noon = dt.datetime.combine(day, dt.time(12, 0), tzinfo=api_settings.zone)
        return lambda minutes=0.0: (noon + dt.timedelta(minutes=minutes)).isoformat()

    seller_a, seller_b, videos = await load_scenario(client, make_account, add_ads, upload, at_on(closed_day))
    await settle(test_settings, closed_day)
    closing.close_days(test_settings, [closed_day])
    late = await make_account("late")
    await watch(client, late, videos["long"], at_on(closed_day), 30, until=60)  # one more view on the closed day
    for n in range(3):  # yesterday: SHORT gets 3 views
        await watch(client, await make_account(f"y{n}"), videos["short"], at_on(next_day), 10 * n, until=120)
    await settle(test_settings, next_day)
    return {"a": seller_a, "b": seller_b, "videos": videos, "closed_day": closed_day, "next_day": next_day}


@pytest.mark.calendar
async def test_a_seller_reads_the_studio_as_the_api_says_and_only_their_own(page, live_api, studio_data, tmp_path):
    seller_a, seller_b, videos = studio_data["a"], studio_data["b"], studio_data["videos"]
    closed_day, next_day = studio_data["closed_day"], studio_data["next_day"]
    api = Api(live_api, seller_a.email)

    await sign_in(page, seller_a.email)
    assert await page.evaluate("document.cookie") == ""  # HttpOnly: not readable by scripts
    # Opens on the latest settled day.
    await check_period(page, api, seller_a.id, "day", next_day)
    await screenshot(page, tmp_path, "day")

    await page.click("#period-week")
    await check_period(page, api, seller_a.id, "week", next_day)
    await check_chart(page, api, seller_a.id, [closed_day, next_day])
    await screenshot(page, tmp_path, "week")

    await page.click("#period-month")
    await check_period(page, api, seller_a.id, "month", next_day)
    await screenshot(page, tmp_path, "month")

    # Sorted by views, then by earnings again (the default).
    await page.click("th >> text=Views")
    views = [int((await cell.inner_text()).replace(",", "")) for cell in await page.locator("tr.video td.views").all()]
    assert views == sorted(views, reverse=True)
    await page.click("#sort-by-earnings")
    earnings = [int(value) for value in await page.locator("tr.video").evaluate_all("rows => rows.map(r => r.dataset.payout)")]
    assert earnings == sorted(earnings, reverse=True) and len(earnings) == 2

    # A video's days: the closed day as paid, what changed since apart. The video's page opens on the
    # month of the latest settled day; the closed day's month (the one before, when the latest is the
    # 1st) is the one that shows what changed since it was closed.
    await page.click(f'tr.video[data-video-id="{videos["long"]["id"]}"] a')
    await page.wait_for_selector("#days")
    assert await first_day_shown(page) <= str(next_day) <= await last_day_shown(page)
    if closed_day.month != next_day.month:
        assert await page.locator("#changed-since-close").count() == 0  # nothing of this month was closed
        await page.goto(f"/studio/videos/{videos['long']['id']}?period=month&date={closed_day}")
        await page.wait_for_selector("#days")
    stats = await api.get(
        f"/videos/{videos['long']['id']}/stats", **{"from": await first_day_shown(page), "to": await last_day_shown(page)}
    )
    rows = await page.locator("tr.day").evaluate_all("rows => rows.map(r => [r.dataset.day, r.dataset.status, r.dataset.payout])")
    assert rows == [[day["day"], day["status"], "" if day["payout"] is None else str(day["payout"])] for day in stats["days"]]
    assert await page.inner_text("#changed-since-close") == won(stats["changed_since_close"]) == "₩1"
    await screenshot(page, tmp_path, "video")

    # Today is pending, not zero.
    await page.goto(f"/studio?period=day&date={next_day + dt.timedelta(days=1)}")
    assert await page.get_attribute("#summary", "data-status") == "pending"
    assert await page.inner_text("#total-payout") == "—" and "not known yet" in await page.inner_text("#status-meaning")

    # Another seller's data cannot be reached: not their video page, not with a seller id in the query,
    # not the JSON API with the studio's cookie.
    other_video = await page.goto(f"/studio/videos/{videos['other']['id']}")
    assert other_video.status == 403 and "own" in await page.inner_text("#message")
    await page.goto(f"/studio?period=week&date={next_day}&seller_id={seller_b.id}")
    assert await page.get_attribute("#signed-in-as", "data-user-id") == str(seller_a.id)
    assert await page.locator(f'[data-video-id="{videos["other"]["id"]}"]').count() == 0
    for path in (f"/sellers/{seller_b.id}/payouts", f"/sellers/{seller_a.id}/payouts"):
        answer = await page.goto(f"{path}?period=day&date={next_day}")
        assert answer.status == 401
    await screenshot(page, tmp_path, "isolation")

    await page.goto("/studio")
    await page.click("#sign-out")
    await page.wait_for_selector("#login-form")
    assert (await page.goto("/studio")).url.endswith("/studio/login")
    await api.http.aclose()


async def first_day_shown(page: Page) -> str:
    return await page.locator("tr.day").first.get_attribute("data-day")


async def last_day_shown(page: Page) -> str:
    return await page.locator("tr.day").last.get_attribute("data-day")


async def check_period(page: Page, api: Api, seller_id: int, period: str, day: dt.date) -> None:
    """The summary, the videos with their ads, the top 5, the adjustments and what was not counted are the
    API's, written in won."""
    await page.wait_for_selector(f"#period-{period}.current")
    payouts = await api.get(f"/sellers/{seller_id}/payouts", period=period, date=str(day))
    summary = page.locator("#summary")
    assert await summary.get_attribute("data-period-start") == payouts["period_start"]
    assert await summary.get_attribute("data-status") == payouts["status"]
    assert await page.inner_text("#total-payout") == won(payouts["payout"])
    assert await page.inner_text(f"#summary .status.{payouts['status']}") == payouts["status"]
    for measure in ("video_payout", "ad_payout", "adjustment"):
        assert await page.inner_text(f"#total-{measure.replace('_', '-')}") == won(payouts[measure])
    assert await page.inner_text("#total-watch-time") == watch_time(payouts["watch_seconds"])

    shown = await page.locator("tr.video").evaluate_all(
        """rows => rows.map(r => ({
            id: +r.dataset.videoId, title: r.querySelector('.title').textContent,
            payout: r.querySelector('.payout').textContent, ad_payout: r.querySelector('.ad-payout').textContent,
            adjustment: r.querySelector('.adjustment').textContent,
            ads: [...r.querySelectorAll('tr.ad')].map(a => [+a.dataset.adId, +a.dataset.adPayout])}))"""
    )
    assert shown == [
        {
            "id": video["video_id"], "title": video["title"], "payout": won(video["payout"]),
            "ad_payout": won(video["ad_payout"]), "adjustment": won(video["adjustment"]),
            "ads": [[ad["ad_id"], ad["ad_payout"]] for ad in video["ads"]],
        }
        for video in payouts["videos"]
    ]  # fmt: skip
    adjustments = await page.locator("tr.adjustment").evaluate_all(
        "rows => rows.map(r => [+r.dataset.videoId, r.dataset.belongsTo, +r.dataset.amount])"
    )
    assert adjustments == [[row["video_id"], row["belongs_to"], row["amount"]] for row in payouts["adjustments"]]

    rankings = await api.get(f"/sellers/{seller_id}/rankings", period=period, date=str(day))
    for metric, key in (("views", "by_views"), ("watch-time", "by_watch_time")):
        ranked = await page.locator(f"#top-{metric} li").evaluate_all("items => items.map(i => +i.dataset.videoId)")
        assert ranked == [row["video_id"] for row in rankings[key]]

    not_counted = await api.get(f"/sellers/{seller_id}/not-counted", period=period, date=str(day))
    shown_reasons = await page.locator("#not-counted .reason").all_inner_texts()
    assert shown_reasons == [reason["explanation"] for row in not_counted["days"] for reason in row["reasons"]]


async def check_chart(page: Page, api: Api, seller_id: int, days: list[dt.date]) -> None:
    """Each settled day's bar is that day's video part and ad part from the API."""
    bars = page.locator("#daily-chart g.bar")
    assert await bars.count() == 30
    for day in days:
        payouts = await api.get(f"/sellers/{seller_id}/payouts", period="day", date=str(day))
        bar = page.locator(f'#daily-chart g.bar[data-day="{day}"]')
        assert await bar.get_attribute("data-status") == payouts["status"]
        assert await bar.get_attribute("data-video-payout") == str(payouts["video_payout"])
        assert await bar.get_attribute("data-ad-payout") == str(payouts["ad_payout"])
    assert await page.locator("#daily-chart g.bar.pending").count() >= 1  # today's bar, at least: not a zero


async def test_kakao_sign_in_lands_in_the_studio(page, conn, fake_kakao, tmp_path):
    """Sign in with Kakao from the studio's page: Kakao's site, back to the callback, then the studio with
    the session cookie (SameSite=Strict, so the page moves on by itself, not by a cross-site redirect)."""
    username = f"kakao-seller-{uuid.uuid4().hex[:6]}"
    user_id = conn.execute(
        "INSERT INTO users (email, username, kakao_id, role) VALUES (%s, %s, %s, 'SELLER') RETURNING id",
        (f"{username}@example.com", username, fake_kakao.account["id"]),
    ).fetchone()[0]
    await page.goto("/studio/login")
    await page.click("#kakao-login")
    await page.wait_for_selector("#signed-in-as")
    assert page.url.endswith("/studio")
    assert await page.get_attribute("#signed-in-as", "data-user-id") == str(user_id)
    await screenshot(page, tmp_path, "kakao")


async def test_the_payments_page_in_a_browser_is_the_apis_and_only_the_sellers_own(page, live_api, paid_month, tmp_path):  # noqa: F811
    seller, other, _ = paid_month
    api = Api(live_api, seller.email)
    await sign_in(page, seller.email)
    await page.click("#nav-payments")
    await page.wait_for_selector("#balance")

    balance = await api.get(f"/sellers/{seller.id}/balance")
    assert await page.inner_text("#balance-amount") == won(balance["balance"])
    assert await page.get_attribute("#threshold-progress", "value") == str(balance["progress_percent"])
    assert await page.locator("#threshold-progress").evaluate("p => p.position") == balance["progress_percent"] / 100
    for name in ("awaiting_payment", "unstated_closed", "estimated_open", "paid_total", "withheld_total"):
        assert await page.inner_text(f"#{name.replace('_', '-')}") == won(balance[name])
    assert await page.inner_text("#account-number") == "*******8901"
    assert await page.locator("#account-returned").count() == 1  # the bank returned a transfer to it

    listed = await api.get(f"/sellers/{seller.id}/statements")
    rows = await page.locator("tr.statement").evaluate_all(
        "rows => rows.map(r => [r.dataset.statement, +r.dataset.net, r.dataset.status])"
    )
    assert rows == [[s["statement"], s["net"], s["payment_status"]] for s in listed["statements"]]
    history = await api.get(f"/sellers/{seller.id}/payments")
    paid = await page.locator("tr.payment").evaluate_all("rows => rows.map(r => [r.dataset.statement, +r.dataset.amount])")
    assert paid == [[p["statement"], p["amount"]] for p in history["payments"]]
    await screenshot(page, tmp_path, "payments")

    # The printable statement: the API's figures; printed, without the studio's header and links.
    await page.click(f'tr.statement[data-statement="{seller.id}-1"] a')
    await page.wait_for_selector("#statement")
    statement = await api.get(f"/sellers/{seller.id}/statements/1")
    for figure in ("carried_in", "returned_in", "payouts", "adjustments", "gross", "net"):
        assert await page.inner_text(f'tr[data-figure="{figure}"] td') == won(statement[figure])
    lines = await page.locator("tr.payout-line").evaluate_all("rows => rows.map(r => [+r.dataset.videoId, +r.dataset.amount])")
    assert lines == [[line["video_id"], line["amount"]] for line in statement["payout_lines"]]
    assert "=HYPERLINK" in await page.inner_text("#payout-lines")  # a title shown as text, not run
    await page.emulate_media(media="print")
    assert not await page.is_visible("header.top") and not await page.is_visible("#download-csv")
    await screenshot(page, tmp_path, "statement-printed")
    await page.emulate_media(media="screen")
    async with page.expect_download() as downloading:
        await page.click("#download-csv")
    download = await downloading.value
    assert download.suggested_filename == f"statement-{seller.id}-1.csv"
    content = Path(await download.path()).read_bytes().decode()
    assert "'=HYPERLINK" in content and "\r\nnet,,,,,309440\r\n" in content

    # The account form: registered again, shown masked, and the balance no longer says it was returned.
    await page.goto("/studio/payments")
    await page.fill("#account-form input[name=holder]", "Kim Minji")
    await page.fill("#account-form input[name=bank_code]", "088")
    await page.fill("#account-form input[name=account_number]", "110223334444")
    await page.click("#account-form button[type=submit]")
    await page.wait_for_selector("#account-shown")
    assert await page.inner_text("#account-number") == "********4444"
    assert await page.locator("#account-returned").count() == 0

    # Only the seller's own: statement numbers are the signed-in seller's, and the JSON API refuses the cookie.
    await page.goto("/studio/payments/statements/1")
    assert await page.get_attribute("#statement", "data-statement") == f"{seller.id}-1"
    for path in (f"/sellers/{other.id}/statements", f"/sellers/{seller.id}/statements/1/csv", f"/sellers/{seller.id}/balance"):
        assert (await page.goto(path)).status == 401
    await api.http.aclose()
