import socket
import subprocess
import sys

import psycopg
import pytest

from settlement import db
from settlement.config import EngineSettings


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # released again: nothing listens there


def query_server_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def test_database_url_wins(database_url, tmp_path):
    settings = EngineSettings(
        _env_file=None, database_url=database_url, local_server_port=closed_port(), embedded_data_dir=tmp_path
    )
    database = db.resolve_database(settings)
    assert (database.url, database.source) == (database_url, "DATABASE_URL")
    assert not any(tmp_path.iterdir())  # no embedded server was started


def test_local_server_gets_its_own_database(server_url, tmp_path):
    if not server_url.startswith("postgresql://postgres@127.0.0.1"):
        pytest.skip("no server on 127.0.0.1:5432 here")
    name = "settlement_bootstrap_probe"
    db.drop_database(server_url, name)
    settings = EngineSettings(_env_file=None, database_url=None, database_name=name, embedded_data_dir=tmp_path)
    try:
        database = db.resolve_database(settings)
        assert database.source == "local"
        with psycopg.connect(database.url) as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0] == name
        assert not any(tmp_path.iterdir())
    finally:
        db.drop_database(server_url, name)


def test_embedded_server_starts_when_nothing_is_configured_and_nothing_answers(tmp_path, monkeypatch):
    data_dir = tmp_path / "pg"
    monkeypatch.setattr(db, "server_answers", lambda host, port, timeout=1.0: False)  # nothing on 127.0.0.1:5432
    settings = EngineSettings(_env_file=None, database_url=None, embedded_data_dir=data_dir)
    database = db.resolve_database(settings)
    try:
        assert database.source == "embedded"
        assert (data_dir / "PG_VERSION").exists()
        with psycopg.connect(database.url) as conn:
            assert conn.execute("SELECT current_database(), 6 * 7").fetchone() == ("settlement", 42)
        assert query_server_version(database.url)
    finally:
        db.stop_embedded_server(data_dir)


def test_a_configured_local_server_that_does_not_answer_is_an_error(tmp_path):
    port = closed_port()
    settings = EngineSettings(_env_file=None, database_url=None, local_server_port=port, embedded_data_dir=tmp_path / "pg")
    with pytest.raises(db.DatabaseUnavailable, match=f"nothing answers on 127.0.0.1:{port}.*SETTLEMENT_LOCAL_SERVER_PORT"):
        db.resolve_database(settings)
    assert not (tmp_path / "pg").exists()  # no embedded server instead


def test_cli_prints_the_url_in_use(database_url):
    env = {"DATABASE_URL": database_url, "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-m", "settlement.cli", "db", "url"], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == database_url
