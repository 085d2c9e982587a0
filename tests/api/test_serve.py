"""`settlement serve`: refuses a database whose schema is not the code's; serves /docs otherwise."""

import os
import subprocess
import sys
import time

import httpx

from settlement import migrations
from settlement.commands.serve import schema_problem
from tests.servers import free_port


def settlement(args: list[str], database_url: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url, "SETTLEMENT_JWT_SECRET": "x" * 32}
    return subprocess.Popen(
        [sys.executable, "-m", "settlement.cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
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
