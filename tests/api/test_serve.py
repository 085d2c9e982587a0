"""`settlement serve`: refuses a database whose schema is not the code's; serves /docs otherwise."""

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
from argon2 import PasswordHasher

from settlement import migrations
from settlement.migrations import schema_problem
from tests.servers import free_port

PASSWORD = "correct horse"


def settlement(args: list[str], database_url: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    """`settlement ARGS` on database_url; env adds variables (None: removes one)."""
    env = {**os.environ, "DATABASE_URL": database_url, "SETTLEMENT_JWT_SECRET": "x" * 32, **(env or {})}
    env = {name: value for name, value in env.items() if value is not None}
    return subprocess.Popen(
        [sys.executable, "-m", "settlement.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_schema_problem_names_the_fix(fresh_database):
    url = fresh_database()
    assert schema_problem(url) == "the database has no schema yet"
    migrations.upgrade(url, "0002")
    assert "revision 0002" in schema_problem(url)
    migrations.upgrade(url)
    assert schema_problem(url) is None


def test_serve_refuses_an_unmigrated_database(fresh_database):
    process = settlement(["serve", "--port", str(free_port())], fresh_database())
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "no schema yet" in stderr and "settlement db upgrade" in stderr


def wait_until_answers(process: subprocess.Popen, url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url)
            return
        except httpx.ConnectError:
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, f"the server did not start within {timeout} s"
            time.sleep(0.2)


def test_serve_answers_on_its_port(database_url):
    port = free_port()
    process = settlement(["serve", "--port", str(port)], database_url)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                docs = httpx.get(f"http://127.0.0.1:{port}/docs")
                break
            except httpx.ConnectError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "the server did not start within 30 s"
                time.sleep(0.2)
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        spec = httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()
        assert "/videos/{video_id}/playback/progress" in spec["paths"]
        assert httpx.get(f"http://127.0.0.1:{port}/videos/999999999").status_code == 404
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_access_log_keeps_no_oauth_code_nor_state(database_url):
    port = free_port()
    process = settlement(["serve", "--port", str(port), "--log-level", "info"], database_url)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/openapi.json")
                break
            except httpx.ConnectError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "the server did not start within 30 s"
                time.sleep(0.2)
        httpx.get(f"http://127.0.0.1:{port}/auth/kakao/callback?code=SECRET-CODE-1&state=SECRET-STATE-2")
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=30)
    log = stdout + stderr
    assert "/auth/kakao/callback?code=REDACTED&state=REDACTED" in log, log
    assert "SECRET" not in log


def worker_processes(pid: int) -> list[int]:
    """The API processes uvicorn started under `settlement serve` (not multiprocessing's resource tracker)."""
    children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [child for child in children if "resource_tracker" not in Path(f"/proc/{child}/cmdline").read_text()]


def test_serve_runs_a_process_per_core_that_share_the_throttle_and_the_token_secret(database_url):
    """Two API processes: a guesser spread over them (each request on a new connection, so both take
    some) gets the account's five tries in all, not five per process; a token signed by one works on
    the other, though no secret was configured (serve makes one for all)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM throttle_attempts")
        for email in ("guessed@example.com", "owner@example.com"):
            conn.execute(
                "INSERT INTO users (email, username, password_hash, email_verified) VALUES (%s, 'u', %s, true) "
                "ON CONFLICT (email) WHERE email_verified DO NOTHING",
                (email, PasswordHasher().hash(PASSWORD)),
            )
    port = free_port()
    env = {
        "SETTLEMENT_LOGIN_ACCOUNT_LIMITS": "5/minute",
        "SETTLEMENT_LOGIN_ADDRESS_LIMITS": "1000/minute",
        "SETTLEMENT_JWT_SECRET": None,
    }
    process = settlement(["serve", "--port", str(port), "--workers", "2"], database_url, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(process, f"{base}/healthz")
        assert len(worker_processes(process.pid)) == 2

        async def attempts():
            async def one(email: str, password: str) -> httpx.Response:
                async with httpx.AsyncClient(base_url=base, timeout=30) as client:  # a connection of its own
                    return await client.post("/auth/login", json={"email": email, "password": password})

            guesses = await asyncio.gather(*(one("guessed@example.com", "wrong") for _ in range(30)))
            token = (await one("owner@example.com", PASSWORD)).json()["access_token"]
            async with contextlib.AsyncExitStack() as stack:
                clients = [await stack.enter_async_context(httpx.AsyncClient(base_url=base)) for _ in range(12)]
                reads = await asyncio.gather(*(c.get("/me", headers={"Authorization": f"Bearer {token}"}) for c in clients))
            return [guess.status_code for guess in guesses], [read.status_code for read in reads]

        guesses, reads = asyncio.run(attempts())
        assert sorted(guesses) == [401] * 5 + [429] * 25
        assert reads == [200] * 12
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert "tokens end with this server" in stderr
