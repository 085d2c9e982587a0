"""The API under test: one app (and pool) per session against the session database, an httpx client
per test (tables emptied first by the `conn` fixture), and a fake Kakao served over real HTTP."""

import contextlib
import datetime as dt
import json
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from api.config import ApiSettings
from api.main import create_app
from settlement import clock

BASE_URL = "http://test"
# Events are dated at noon of the platform's yesterday, so a scenario's events fall on one day.
EVENT_AGE_HOURS = 24 * 7
OPS_TOKEN = "test-operator-token"
UNTHROTTLED = "1000000/minute"
DEFAULT_KAKAO_ACCOUNT = {"id": 4242, "email": "kakao.user@example.com", "nickname": "kakao user"}
# argon2id's cost is a setting. The suite's apps hash at the least cost argon2id allows: its thousands of
# signups, verifications and logins took ~0.15 s of a core each at a server's cost, minutes of `make test`.
# The tests whose subject is that cost (a queue of hashes, a refusal that costs none) take SERVER_HASHING,
# api/config.py's defaults, which tests/api/test_auth.py checks a server hashes with.
LEAST_HASHING = {"password_hash_time_cost": 1, "password_hash_memory_kib": 8 * 1024}
SERVER_HASHING = {name: ApiSettings.model_fields[name].default for name in LEAST_HASHING}


@dataclass
class FakeKakao:
    """Kakao's authorize, token and user-info endpoints, with one logged-in Kakao account."""

    client_id: str = "fake-client-id"
    client_secret: str = "fake-client-secret"
    account: dict = field(default_factory=lambda: dict(DEFAULT_KAKAO_ACCOUNT))
    codes: dict = field(default_factory=dict)  # code -> (account, redirect_uri)
    tokens: dict = field(default_factory=dict)  # access token -> account
    base_url: str = ""
    # step ("token" or "user info") -> what to answer instead: (status, JSON value, raw bytes or a Flood)
    answers: dict = field(default_factory=dict)
    bytes_sent: int = 0  # of the last Flood

    def authorize(self, query: dict) -> tuple[int, dict, dict | None]:
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return 400, {}, {"error": "invalid_request"}
        code = secrets.token_hex(8)
        self.codes[code] = (dict(self.account), query["redirect_uri"])
        location = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        return 302, {"Location": location}, None

    def token(self, form: dict) -> tuple[int, dict, dict | None]:
        issued = self.codes.pop(form.get("code", ""), None)  # a code works once
        if (
            form.get("grant_type") != "authorization_code"
            or form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
            or issued is None
            or issued[1] != form.get("redirect_uri")
        ):
            return 400, {}, {"error": "invalid_grant"}
        access_token = secrets.token_hex(16)
        self.tokens[access_token] = issued[0]
        return 200, {}, {"access_token": access_token, "token_type": "bearer", "expires_in": 3600}

    def user_info(self, authorization: str) -> tuple[int, dict, dict | None]:
        account = self.tokens.get(authorization.removeprefix("Bearer "))
        if account is None:
            return 401, {}, {"code": -401, "msg": "this access token does not exist"}
        kakao_account = {"profile": {"nickname": account["nickname"]}}
        if account.get("email"):
            kakao_account |= {"email": account["email"], "is_email_verified": account.get("is_email_verified", True)}
        return 200, {}, {"id": account["id"], "kakao_account": kakao_account}


@dataclass(frozen=True)
class Flood:
    """A user-info answer of size bytes (a nickname of x's), with or without its Content-Length."""

    size: int
    declared: bool = True
    prefix: bytes = b'{"id": 4242, "kakao_account": {"profile": {"nickname": "'
    suffix: bytes = b'"}}}'


def serve_fake_kakao(fake: FakeKakao) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlsplit(self.path)
            if url.path == "/oauth/authorize":
                self.answer(*fake.authorize({k: v[0] for k, v in parse_qs(url.query).items()}))
            elif url.path == "/v2/user/me":
                self.answer(*fake.answers.get("user info") or fake.user_info(self.headers.get("Authorization", "")))
            else:
                self.answer(404, {}, {"error": "not found"})

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            if self.path == "/oauth/token":
                answer = fake.token({k: v[0] for k, v in parse_qs(body).items()})
                self.answer(*fake.answers.get("token") or answer)
            else:
                self.answer(404, {}, {"error": "not found"})

        def answer(self, status: int, headers: dict, body):
            if isinstance(body, Flood):
                self.flood(status, body)
                return
            payload = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def flood(self, status: int, flood: Flood):
            chunk, chunks = b"x" * 65536, -(-flood.size // 65536)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if flood.declared:
                self.send_header("Content-Length", str(len(flood.prefix) + chunks * len(chunk) + len(flood.suffix)))
            self.end_headers()
            fake.bytes_sent = 0
            try:
                self.wfile.write(flood.prefix)
                for _ in range(chunks):
                    self.wfile.write(chunk)
                    fake.bytes_sent += len(chunk)
                self.wfile.write(flood.suffix)
            except OSError:  # the client stopped reading
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    return server


@pytest.fixture(scope="session")
def kakao_server():
    fake = FakeKakao()
    server = serve_fake_kakao(fake)
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_kakao(kakao_server):
    """The fake provider; a test may change its logged-in account."""
    yield kakao_server
    kakao_server.account = dict(DEFAULT_KAKAO_ACCOUNT)
    kakao_server.answers = {}


@pytest.fixture(scope="session")
def api_settings(database_url, kakao_server) -> ApiSettings:
    return ApiSettings(
        _env_file=None,
        database_url=database_url,
        jwt_secret="test-jwt-secret-of-at-least-32-bytes",
        kakao_client_id=kakao_server.client_id,
        kakao_client_secret=kakao_server.client_secret,
        kakao_redirect_uri=f"{BASE_URL}/auth/kakao/callback",
        kakao_authorize_url=f"{kakao_server.base_url}/oauth/authorize",
        kakao_token_url=f"{kakao_server.base_url}/oauth/token",
        kakao_user_info_url=f"{kakao_server.base_url}/v2/user/me",
        playback_max_event_age_hours=EVENT_AGE_HOURS,
        ops_token=OPS_TOKEN,
        api_pool_max_size=20,
        # The suites log in hundreds of times a minute from one address; tests/api/test_throttle.py
        # checks the throttle with its default limits.
        login_address_limits=UNTHROTTLED,
        signup_address_limits=UNTHROTTLED,
        password_reset_address_limits=UNTHROTTLED,
        # Apps deliver the mail of their own signups, at once; a test's own app is not raced by
        # the session's app polling the shared outbox.
        email_outbox_poll_seconds=3600,
        **LEAST_HASHING,
    )


@pytest.fixture(scope="session")
async def app(api_settings):
    application = create_app(api_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app, conn):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        yield http


@dataclass
class Account:
    id: int
    email: str
    headers: dict


def verification_link(conn, email: str) -> str:
    """The newest verification link mailed to email, read from the outbox."""
    row = conn.execute("SELECT body FROM email_outbox WHERE recipient = %s ORDER BY id DESC LIMIT 1", (email.lower(),)).fetchone()
    assert row is not None, f"no mail to {email} in the outbox"
    return re.search(r"https?://\S+", row[0])[0]


def verification_token(conn, email: str) -> str:
    return parse_qs(urlsplit(verification_link(conn, email)).query)["token"][0]


async def verify_email(client, conn, email: str, password: str = "correct horse") -> httpx.Response:
    """Follows the verification link mailed to email, as the web page it opens does: with the password
    the signup was made with."""
    return await client.post("/auth/verify-email", json={"token": verification_token(conn, email), "password": password})


@pytest.fixture
def make_account(client, conn):
    """Signs a user up (a seller if asked), verifies the email and logs them in."""

    async def make(name: str = "viewer", seller: bool = False) -> Account:
        email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
        response = await client.post("/auth/signup", json={"email": email, "password": "correct horse", "username": name})
        assert response.status_code == 201, response.text
        assert (await verify_email(client, conn, email)).status_code == 200
        login = await client.post("/auth/login", json={"email": email, "password": "correct horse"})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        if seller:
            assert (await client.post("/me/seller", headers=headers)).status_code == 200
        return Account(id=response.json()["id"], email=email, headers=headers)

    return make


UPLOADED_DAYS_AGO = 7


@pytest.fixture
def upload(client, conn):
    """Uploads a video as `owner`, dated (with its going live) a week back: the tests play events of
    yesterday and the day before, and an event counts only while its video is live."""

    async def upload_video(owner: "Account", body: dict) -> dict:
        response = await client.post("/videos", json=body, headers=owner.headers)
        assert response.status_code == 201, response.text
        video = response.json()
        backdate_video(conn, video["id"], dt.timedelta(days=UPLOADED_DAYS_AGO))
        return video

    return upload_video


def backdate_video(conn, video_id: int, by: dt.timedelta) -> None:
    conn.execute("UPDATE videos SET created_at = created_at - %s WHERE id = %s", (by, video_id))
    conn.execute("UPDATE video_live_periods SET live_from = live_from - %s WHERE video_id = %s", (by, video_id))


@pytest.fixture
def add_ads(conn, api_settings):
    """Inserts n ACTIVE ads; returns their ids."""

    def add(n: int, status: str = "ACTIVE") -> list[int]:
        today = clock.today(api_settings.zone)
        rows = conn.execute(
            """
            INSERT INTO ads (title, ad_url, duration_seconds, contract_start, contract_end, status)
            SELECT 'ad ' || i, 'https://ads.example.com/' || i, 15, %s, %s, %s FROM generate_series(1, %s) AS i
            RETURNING id
            """,
            (today - dt.timedelta(days=30), today + dt.timedelta(days=30), status, n),
        ).fetchall()
        return [row[0] for row in rows]

    return add


@pytest.fixture
def event_day(api_settings) -> dt.date:
    """The platform day the tests' playback events happen on (yesterday)."""
    return clock.today(api_settings.zone) - dt.timedelta(days=1)


@pytest.fixture
def at(api_settings, event_day):
    """at(minutes) -> an aware time that many minutes after noon of event_day."""
    noon = dt.datetime.combine(event_day, dt.time(12, 0), tzinfo=api_settings.zone)
    return lambda minutes=0.0: (noon + dt.timedelta(minutes=minutes)).isoformat()


@pytest.fixture
async def app_with(api_settings, conn):
    """start(**changes): an app of its own, on the session database, with these settings changed
    (its throttle counts, say, start from zero); stopped at the end of the test."""
    async with contextlib.AsyncExitStack() as running:

        async def start(**changes):
            application = create_app(api_settings.model_copy(update=changes))
            await running.enter_async_context(application.router.lifespan_context(application))
            return application

        yield start


def client_of(app, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client of app whose requests come from this address."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 50000)), base_url=BASE_URL)
