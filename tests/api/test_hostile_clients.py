"""What a hostile or careless client costs and learns: request bodies are bounded before they are
read, errors repeat no secret and tell nothing about which token check failed, tokens are not cached,
no answer is sniffed as another content type."""

import datetime as dt
import json

import httpx
import jwt
import pytest

from api.auth.service import ACCESS_PURPOSE, JWT_ALGORITHM
from api.main import create_app
from settlement import clock
from tests.api.conftest import BASE_URL
from tests.security.test_credentials import bad_tokens

MEBIBYTE = 1024 * 1024
MAX_READS = 100  # of 64 KiB: the endless bodies below fail the test instead of hanging it


async def call_asgi(app, method: str, path: str, headers: list[tuple[bytes, bytes]], chunks) -> tuple[int, int, bytes]:
    """(status, how many body chunks the app read, response body) of one request sent straight to
    the ASGI app; chunks is an iterator of body chunks, each sent with more_body until it ends."""
    read = 0
    answer = {"status": 0, "body": b""}

    async def receive():
        nonlocal read
        if read > MAX_READS:
            raise AssertionError(f"the app read more than {MAX_READS} chunks of the body")
        chunk = next(chunks, None)
        read += 1
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"test"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000), "server": ("test", 80),
    }  # fmt: skip
    await app(scope, receive, send)
    return answer["status"], read, answer["body"]


def endless_json(chunk_size: int = 64 * 1024):
    """A JSON body that never ends: '{"email": "xxxx...'."""
    yield b'{"email": "'
    while True:
        yield b"x" * chunk_size


async def test_a_body_declared_too_large_is_refused_before_a_byte_is_read(app, api_settings):
    declared = str(100 * MEBIBYTE).encode()
    status, read, body = await call_asgi(app, "POST", "/auth/login", [(b"content-length", declared)], endless_json())
    assert status == 413 and read == 0, (status, read)
    assert str(api_settings.max_request_body_bytes) in json.loads(body)["detail"]


async def test_a_chunked_body_is_cut_off_at_the_limit(app, api_settings):
    status, read, _ = await call_asgi(app, "POST", "/auth/login", [(b"transfer-encoding", b"chunked")], endless_json())
    assert status == 413
    assert read <= api_settings.max_request_body_bytes // (64 * 1024) + 2  # not 100 MB


async def test_the_largest_valid_body_fits_under_the_limit(client, make_account, api_settings):
    """A video with the longest title and description, every character JSON-escaped as a surrogate pair."""
    seller = await make_account("seller", seller=True)
    widest = "\U0001f4b8"
    body = {
        "title": widest * 200,
        "description": widest * 5000,
        "video_url": "https://cdn.example.com/" + "v" * 2000,
        "duration_seconds": 600,
    }
    content = json.dumps(body).encode()  # ensure_ascii: 12 bytes a character
    assert len(content) < api_settings.max_request_body_bytes
    response = await client.post("/videos", content=content, headers={**seller.headers, "content-type": "application/json"})
    assert response.status_code == 201, response.text[:300]


async def test_a_double_encoded_body_is_not_repeated(client):
    """A JSON string holding the login object: the 422 must not echo it, password and all."""
    secret = "Sup3r-secret password"
    content = json.dumps(json.dumps({"email": "a@example.com", "password": secret}))
    response = await client.post("/auth/login", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert secret not in response.text and "input" not in response.json()["detail"][0]


@pytest.mark.filterwarnings("ignore:The HMAC key is .* bytes long")
async def test_every_bad_token_gets_the_same_401(client, app, make_account):
    account = await make_account()
    answers = {}
    tokens = bad_tokens(app.state.jwt_secret, account.id)
    del tokens["empty"]  # no token at all: told to log in
    for name, token in tokens.items():
        response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        answers[name] = response.json()["detail"]
    assert len(set(answers.values())) == 1, answers
    assert not {"signature", "purpose", "algorithm", "subject"} & set(" ".join(answers.values()).split())


OTHER_DIGITS = {"arabic-indic": "٠١٢٣٤٥٦٧٨٩", "fullwidth": "０１２３４５６７８９"}


@pytest.mark.parametrize("script", OTHER_DIGITS)
async def test_the_token_subject_must_be_ascii_digits(client, app, make_account, conn, script):
    account = await make_account()
    subject = str(account.id).translate(str.maketrans("0123456789", OTHER_DIGITS[script]))
    assert int(subject) == account.id  # what int() alone accepts
    [session_id] = conn.execute("SELECT id::text FROM auth_sessions WHERE user_id = %s", (account.id,)).fetchone()
    now = clock.now()
    claims = {"sid": session_id, "purpose": ACCESS_PURPOSE, "iat": now, "exp": now + dt.timedelta(minutes=5)}
    token = jwt.encode({**claims, "sub": subject}, app.state.jwt_secret, algorithm=JWT_ALGORITHM)
    assert (await client.get("/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    ascii_token = jwt.encode({**claims, "sub": str(account.id)}, app.state.jwt_secret, algorithm=JWT_ALGORITHM)
    assert (await client.get("/me", headers={"Authorization": f"Bearer {ascii_token}"})).status_code == 200  # the control


async def test_token_answers_are_not_cached(client, make_account):
    account = await make_account()
    login = await client.post("/auth/login", json={"email": account.email, "password": "correct horse"})
    assert login.status_code == 200
    assert login.headers["cache-control"] == "no-store"


async def test_every_answer_says_nosniff(client, make_account, api_settings):
    account = await make_account()
    answers = [
        await client.get("/videos"),
        await client.get("/videos/999999"),
        await client.get("/me"),
        await client.get("/me", headers=account.headers),
        await client.post("/auth/login", json={}),
        await client.delete("/videos"),
        await client.get("/openapi.json"),
        await client.get("/docs"),
        await client.post("/auth/login", content=b"x" * (api_settings.max_request_body_bytes + 1)),
    ]
    assert [answer.headers.get("x-content-type-options") for answer in answers] == ["nosniff"] * len(answers)


async def test_an_unexpected_error_is_a_bare_500_that_says_nosniff(api_settings):
    broken = create_app(api_settings)

    @broken.get("/broken")
    async def fail():
        raise RuntimeError("internal detail")

    transport = httpx.ASGITransport(app=broken, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        response = await client.get("/broken")
    assert response.status_code == 500 and "internal detail" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
