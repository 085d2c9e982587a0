"""Finding a PostgreSQL server: DATABASE_URL, else a server on 127.0.0.1:5432, else an embedded one.

The embedded server is the fallback only when nothing was configured: a DATABASE_URL that does not
answer, or a local server host/port that was set and does not answer, is an error (DatabaseUnavailable),
never a silent switch to another server."""

import logging
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from settlement.config import CommonSettings

log = logging.getLogger(__name__)

Row = TypeVar("Row")


def one_row(cursor: psycopg.Cursor[Row]) -> Row:
    """The row of a query that always returns one (an aggregate, a function's result, INSERT ... RETURNING)."""
    row = cursor.fetchone()
    if row is None:
        raise LookupError("the query returned no row")
    return row


@dataclass(frozen=True)
class Database:
    url: str
    source: str  # "DATABASE_URL", "local" or "embedded"

    def connect(self, **kwargs: Any) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.url, **kwargs)


class DatabaseUnavailable(RuntimeError):
    """The configured database cannot be used: what is wrong, and the next step to fix it."""

    def __init__(self, what: str, next_step: str):
        super().__init__(f"{what}; {next_step}")
        self.what, self.next_step = what, next_step


def server_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def to_url(params: dict[str, Any]) -> str:
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


def local_server_url(settings: CommonSettings) -> str:
    return to_url({"host": settings.local_server_host, "port": settings.local_server_port, "user": settings.local_server_user})


def embedded_server_url(data_dir: Path) -> str:
    """Start (or reuse) an embedded PostgreSQL in data_dir; it keeps running after this process exits."""
    import pgserver  # imported lazily: it is only needed where no server answers

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir.resolve(), cleanup_mode=None)
    url = server.get_uri("postgres")
    log.info("embedded PostgreSQL in %s (socket %s)", data_dir, conninfo_to_dict(url).get("host"))
    return url


def stop_embedded_server(data_dir: Path) -> None:
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # set at import, one per PostgreSQL program

    server = __import__("pgserver").get_server(data_dir.resolve(), cleanup_mode=None)
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=server.pgdata, user=server.system_user)


LOCAL_SERVER_SETTINGS = {"local_server_host": "SETTLEMENT_LOCAL_SERVER_HOST", "local_server_port": "SETTLEMENT_LOCAL_SERVER_PORT"}


def server_url(settings: CommonSettings) -> tuple[str, str]:
    """(URL of a maintenance database on the chosen server, which source chose it)."""
    if settings.database_url:
        return settings.database_url, "DATABASE_URL"
    if server_answers(settings.local_server_host, settings.local_server_port):
        return local_server_url(settings), "local"
    configured = [name for field, name in LOCAL_SERVER_SETTINGS.items() if field in settings.model_fields_set]
    if configured:
        raise DatabaseUnavailable(
            f"nothing answers on {settings.local_server_host}:{settings.local_server_port} ({', '.join(configured)})",
            "start PostgreSQL there, fix the setting, or unset it to use the embedded server",
        )
    return embedded_server_url(settings.embedded_data_dir), "embedded"


def resolve_database(settings: CommonSettings) -> Database:
    url, source = server_url(settings)
    if source == "DATABASE_URL":
        return Database(url=url, source=source)
    try:
        create_database_if_missing(url, settings.database_name)
    except psycopg.OperationalError as exc:
        raise connection_problem(exc, Database(url, source)) from exc
    return Database(url=with_database(url, settings.database_name), source=source)


SETTING_OF_SOURCE = {
    "DATABASE_URL": "DATABASE_URL",
    "local": "SETTLEMENT_LOCAL_SERVER_HOST/_PORT/_USER",
    "embedded": "SETTLEMENT_EMBEDDED_DATA_DIR",
}


def connection_problem(exc: psycopg.OperationalError, database: Database) -> DatabaseUnavailable:
    """Why a connection to the database failed, in one line, with the setting to look at."""
    message = str(exc)
    where = f"{describe(database.url)} ({database.source})"
    setting = SETTING_OF_SOURCE.get(database.source, "DATABASE_URL")
    params = conninfo_to_dict(database.url)
    if match := re.search(r'role "([^"]+)" does not exist', message):
        return DatabaseUnavailable(
            f"role {match[1]} does not exist on {where}", f"fix the user in {setting}, or create the role (createuser {match[1]})"
        )
    if match := re.search(r'database "([^"]+)" does not exist', message):
        return DatabaseUnavailable(
            f"database {match[1]} does not exist on {where}",
            f"create it (createdb {match[1]}) and run `settlement db upgrade`, or fix {setting}",
        )
    if "password authentication failed" in message or "no password supplied" in message:
        return DatabaseUnavailable(
            f"the server refused the password of {params.get('user', 'postgres')} on {where}", f"check the password in {setting}"
        )
    if re.search(
        r"Connection refused|No such file or directory|timeout expired|could not translate host name|Name or service not known",
        message,
    ):
        reason = first_line(message).rsplit(": ", 1)[-1]
        return DatabaseUnavailable(f"cannot reach {where}: {reason}", f"is PostgreSQL running there? check {setting}")
    return DatabaseUnavailable(f"cannot connect to {where}: {first_line(message)}", f"check {setting}")


def first_line(message: str) -> str:
    """The line of a database or dbt error that says what went wrong: its first, skipping dbt's headers
    ('Database Error', ...) and PostgreSQL's position lines ('LINE 3: ...', the caret under it)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    meaningful = [
        line
        for line in lines
        if line not in ("Database Error", "Runtime Error", "Compilation Error") and not line.startswith(("^", "LINE "))
    ]
    return (meaningful or lines or [""])[0]


def ensure_reachable(database: Database, timeout_seconds: int = 10) -> None:
    """Connects once, so that a database that cannot be used fails here, in one line, not mid-work."""
    try:
        with psycopg.connect(database.url, connect_timeout=timeout_seconds):
            pass
    except psycopg.OperationalError as exc:
        raise connection_problem(exc, database) from exc


def describe(url: str) -> str:
    """A URL for humans: where the server is, without the password."""
    params = conninfo_to_dict(url)
    params.pop("password", None)
    return to_url(params)
