"""Finding a PostgreSQL server: DATABASE_URL, else a server on 127.0.0.1:5432, else an embedded one."""

import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from settlement.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Database:
    url: str
    source: str  # "DATABASE_URL", "local" or "embedded"

    def connect(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.url, **kwargs)


def server_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def to_url(params: dict) -> str:
    """A postgresql:// URL from connection parameters (a socket directory goes in ?host=)."""
    params = dict(params)
    user = quote(str(params.pop("user", "postgres")), safe="")
    password = params.pop("password", None)
    credentials = f"{user}:{quote(str(password), safe='')}" if password else user
    host = str(params.pop("host", ""))
    port = params.pop("port", None)
    dbname = quote(str(params.pop("dbname", "postgres")), safe="")
    if host.startswith("/"):
        params["host"] = host
        if port:
            params["port"] = port
        netloc = ""
    else:
        netloc = host + (f":{port}" if port else "")
    query = f"?{urlencode(params)}" if params else ""
    return f"postgresql://{credentials}@{netloc}/{dbname}{query}"


def with_database(url: str, dbname: str) -> str:
    """The same server, naming another database."""
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return to_url(params)


def create_database_if_missing(server_url: str, dbname: str) -> None:
    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            log.info("created database %s", dbname)


def drop_database(server_url: str, dbname: str) -> None:
    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def local_server_url(settings: Settings) -> str:
    return to_url(
        {"host": settings.local_server_host, "port": settings.local_server_port, "user": settings.local_server_user}
    )


def embedded_server_url(data_dir: Path) -> str:
    """Start (or reuse) an embedded PostgreSQL in data_dir; it keeps running after this process exits."""
    import pgserver  # imported lazily: it is only needed where no server answers

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir.resolve(), cleanup_mode=None)
    url = server.get_uri("postgres")
    log.info("embedded PostgreSQL in %s (socket %s)", data_dir, conninfo_to_dict(url).get("host"))
    return url


def stop_embedded_server(data_dir: Path) -> None:
    from pgserver._commands import pg_ctl

    server = __import__("pgserver").get_server(data_dir.resolve(), cleanup_mode=None)
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=server.pgdata, user=server.system_user)


def server_url(settings: Settings) -> tuple[str, str]:
    """(URL of a maintenance database on the chosen server, which source chose it)."""
    if settings.database_url:
        return settings.database_url, "DATABASE_URL"
    if server_answers(settings.local_server_host, settings.local_server_port):
        return local_server_url(settings), "local"
    return embedded_server_url(settings.embedded_data_dir), "embedded"


def resolve_database(settings: Settings) -> Database:
    url, source = server_url(settings)
    if source == "DATABASE_URL":
        return Database(url=url, source=source)
    create_database_if_missing(url, settings.database_name)
    return Database(url=with_database(url, settings.database_name), source=source)


def describe(url: str) -> str:
    """A URL for humans: where the server is, without the password."""
    params = conninfo_to_dict(url)
    params.pop("password", None)
    return to_url(params)
