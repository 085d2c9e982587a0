"""Whose address the throttles count: X-Forwarded-For (and -Proto) are believed only from the proxies
configured (SETTLEMENT_TRUSTED_PROXIES, or uvicorn's FORWARDED_ALLOW_IPS), none by default.

Issue 22: `settlement serve` believed the header from 127.0.0.1 (uvicorn's default), so behind a local
proxy passing it through, a client got 20 more signups an hour each time it changed the header."""

import os
import subprocess
import sys
import uuid

import httpx
import pytest

from tests.api.conftest import BASE_URL
from tests.servers import LOOPBACK, free_port, wait_until_serving

PASSWORD = "correct horse"


@pytest.fixture
def serve(conn, database_url, tmp_path):
    """serve(**env) -> the base URL of `settlement serve` on the session database (emptied first: the
    throttles count in it), with signups limited to 2 an hour per address and env added; stopped at the
    end of the test."""
    started = []

    def start(**env) -> str:
        port = free_port()
        log = tmp_path / f"api-{port}.log"
        variables = {**os.environ, "DATABASE_URL": database_url, "SETTLEMENT_JWT_SECRET": "x" * 32,
                     "SETTLEMENT_SIGNUP_ADDRESS_LIMITS": "2/hour", **env}  # fmt: skip
        for name in ("SETTLEMENT_TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS"):
            if name not in env:
                variables.pop(name, None)
        with log.open("w") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "settlement.cli", "serve", "--port", str(port)],
                env=variables,
                stdout=output,
                stderr=output,
            )
        started.append(process)
        base_url = f"http://{LOOPBACK}:{port}"
        wait_until_serving(process, f"{base_url}/healthz", log)
        return base_url

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=30)


def signups(base_url: str, forwarded_for: list[str | None]) -> list[int]:
    statuses = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for address in forwarded_for:
            body = {"email": f"fwd-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD, "username": "f"}
            headers = {"X-Forwarded-For": address} if address else {}
            statuses.append(client.post("/auth/signup", json=body, headers=headers).status_code)
    return statuses


def test_a_client_cannot_choose_its_address_by_default(serve):
    base_url = serve()
    assert signups(base_url, ["203.0.113.1", "203.0.113.2", "203.0.113.3", None]) == [201, 201, 429, 429]


@pytest.mark.parametrize("variable", ["SETTLEMENT_TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS"])
def test_a_configured_proxy_tells_the_clients_address(serve, variable):
    base_url = serve(**{variable: LOOPBACK})
    assert signups(base_url, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [201, 201, 201]
    assert signups(base_url, ["198.51.100.7"] * 3) == [201, 201, 429]


async def signup_statuses(app, client_address: str, forwarded: list[dict]) -> list[int]:
    transport = httpx.ASGITransport(app=app, client=(client_address, 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        statuses = []
        for headers in forwarded:
            body = {"email": f"fwd-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD, "username": "f"}
            statuses.append((await client.post("/auth/signup", json=body, headers=headers)).status_code)
        return statuses


async def test_only_the_configured_proxies_are_believed(app_with):
    app = await app_with(signup_address_limits="1/hour", trusted_proxies="10.0.0.0/8, 192.0.2.1")
    # from a proxy: each client its own budget, the proxy's own address aside
    assert await signup_statuses(app, "10.1.2.3", [{"x-forwarded-for": "203.0.113.1"}, {"x-forwarded-for": "203.0.113.2"}]) == [
        201,
        201,
    ]
    # a chain: the nearest address that is not a proxy of ours is the client (what it wrote itself is not)
    chain = [{"x-forwarded-for": f"198.51.100.{n}, 203.0.113.9, 192.0.2.1"} for n in (1, 2)]
    assert await signup_statuses(app, "10.1.2.3", chain) == [201, 429]
    # from anyone else the header is only text
    spoofed = [{"x-forwarded-for": f"203.0.113.{n}"} for n in (20, 21)]
    assert await signup_statuses(app, "198.51.100.50", spoofed) == [201, 429]


async def test_https_is_believed_only_from_a_proxy(app_with, make_account):
    """X-Forwarded-Proto decides the studio cookie's Secure flag."""
    seller = await make_account("s", seller=True)
    form = f"email={seller.email}&password={PASSWORD}".replace("@", "%40").encode()
    headers = {"content-type": "application/x-www-form-urlencoded", "x-forwarded-proto": "https"}
    for trusted, secure in (("", False), ("127.0.0.1", True)):
        app = await app_with(trusted_proxies=trusted)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 50000)), base_url=BASE_URL
        ) as client:
            response = await client.post("/studio/login", content=form, headers=headers)
        assert response.status_code == 303, response.text
        assert ("secure" in response.headers["set-cookie"].lower()) is secure, (trusted, response.headers["set-cookie"])
