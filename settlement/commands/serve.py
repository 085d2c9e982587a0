"""`settlement serve`: the API (FastAPI under uvicorn), on a database whose schema is up to date."""

import argparse
import sys

import psycopg
from alembic.script import ScriptDirectory

from settlement import db, migrations
from settlement.config import get_settings


def schema_problem(database_url: str) -> str | None:
    """Why the database cannot serve the API (its schema is missing or not the code's), or None."""
    heads = set(ScriptDirectory.from_config(migrations.alembic_config(database_url)).get_heads())
    with psycopg.connect(database_url) as conn:
        if conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0] is None:
            return "the database has no schema yet"
        current = {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}
    if current != heads:
        return f"the schema is at revision {', '.join(sorted(current)) or 'none'}, the code needs {', '.join(sorted(heads))}"
    return None


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.main import create_app

    settings = get_settings()
    database = db.resolve_database(settings)
    problem = schema_problem(database.url)
    if problem:
        print(f"error: {problem} ({db.describe(database.url)}): run `settlement db upgrade` first", file=sys.stderr)
        return 1
    print(f"database: {db.describe(database.url)} ({database.source})", file=sys.stderr)
    print(f"API docs: http://{args.host}:{args.port}/docs", file=sys.stderr)
    uvicorn.run(create_app(settings, database.url), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def register(commands) -> None:
    serve = commands.add_parser("serve", help="serve the HTTP API (OpenAPI docs at /docs)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(func=cmd_serve)
