"""Running `settlement` as an operator would: in-process through its entry point (fast), or as a real
process with its own environment."""

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.config import get_api_settings
from settlement import cli, migrations
from settlement.config import PROJECT_ROOT, get_settings

SETTLEMENT_BIN = Path(sys.executable).parent / "settlement"  # the console script, as `make install` puts it
# What may configure the database; each test states its own.
DATABASE_VARIABLES = (
    "DATABASE_URL",
    "SETTLEMENT_DATABASE_URL",
    "SETTLEMENT_LOCAL_SERVER_HOST",
    "SETTLEMENT_LOCAL_SERVER_PORT",
    "SETTLEMENT_LOCAL_SERVER_USER",
    "SETTLEMENT_DATABASE_NAME",
    "SETTLEMENT_EMBEDDED_DATA_DIR",
)


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # released again: nothing listens there


@pytest.fixture
def settlement(monkeypatch, capsys, tmp_path):
    """settlement(*args, **environment) -> Outcome: the CLI's entry point, in this process."""

    def run(*args: str, **environment: str) -> Outcome:
        for name in DATABASE_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("SETTLEMENT_EMBEDDED_DATA_DIR", str(tmp_path / "pg"))  # never the project's own
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        get_api_settings.cache_clear()  # `settlement serve` reads the API's settings
        capsys.readouterr()
        try:
            code = cli.main(list(args))
        finally:
            get_settings.cache_clear()
            get_api_settings.cache_clear()
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


def run_settlement_process(*args: str, cwd: Path = PROJECT_ROOT, timeout: float = 300, **environment: str) -> Outcome:
    """`settlement ...` in a process of its own, as typed in a shell (the console script)."""
    env = {name: value for name, value in os.environ.items() if name not in DATABASE_VARIABLES}
    env.update(environment)
    done = subprocess.run([str(SETTLEMENT_BIN), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return Outcome(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def migrated_url(fresh_database) -> str:
    """An empty, migrated database of the CLI tests."""
    url = fresh_database("settlement_cli")
    migrations.upgrade(url)
    return url


def assert_one_error_line(outcome: Outcome, code: int, *fragments: str) -> str:
    """The failure is its exit code and one line on stderr, `error: <what> — <next step>`, no traceback
    (at most one line said before it, e.g. `database: ...`)."""
    assert outcome.code == code, (outcome.code, outcome.err)
    errors = [line for line in outcome.error_lines if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0] == outcome.error_lines[-1], outcome.err
    assert len(outcome.error_lines) <= 2 and "Traceback" not in outcome.err, outcome.err
    line = errors[0]
    assert " — " in line, line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line
