"""`settlement serve`: the API (FastAPI under uvicorn), on a database whose schema is up to date.

One API process per core by default (--workers, SETTLEMENT_API_WORKERS): a request's Python work (JSON,
validation, the answer) takes a core, and the database does the rest. What the processes must share
lives in the database: the login and signup throttles (throttle_attempts), the email outbox (claimed
with SKIP LOCKED), used Kakao states; and they sign tokens with one secret (a random one, when none
is configured, made here once for all of them).
"""

import os
import secrets

import click

from api.config import ApiSettings, get_api_settings
from settlement import db
from settlement.commands import open_database


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_environment(settings: ApiSettings, database_url: str) -> list[str]:
    """Sets what each worker process (a fresh interpreter that builds its app from the environment)
    must share with the others; returns warnings to print."""
    warnings = []
    os.environ["DATABASE_URL"] = database_url  # the database found here, not found again by each
    if not settings.jwt_secret:
        os.environ["SETTLEMENT_JWT_SECRET"] = secrets.token_urlsafe(32)
        warnings.append("SETTLEMENT_JWT_SECRET is not set: using a random secret, tokens end with this server")
    if "memory" in settings.throttle_storage_uri:
        warnings.append(
            f"the throttles count in each process's memory ({settings.throttle_storage_uri}): "
            "a client spread over the processes gets more attempts"
        )
    return warnings


@click.command(
    "serve",
    short_help="Serve the HTTP API (docs at /docs).",
    help="Serve the HTTP API (OpenAPI docs at /docs) on a database whose schema is the code's.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port.")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="API processes [default: SETTLEMENT_API_WORKERS, else one per core].",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def command(host: str, port: int, workers: int | None, log_level: str) -> None:
    import uvicorn

    from api.main import create_app

    settings = get_api_settings()
    database = open_database(settings)
    workers = workers or settings.api_workers or usable_cores()
    click.echo(f"database: {db.describe(database.url)} ({database.source})", err=True)
    click.echo(f"API docs: http://{host}:{port}/docs ({workers} process{'es' if workers > 1 else ''})", err=True)
    # The app believes X-Forwarded-* from settings.trusted_proxies alone (api.main.create_app); uvicorn's own
    # handling would believe them from 127.0.0.1 by default, i.e. from any client of a local proxy.
    if workers == 1:
        uvicorn.run(create_app(settings, database.url), host=host, port=port, log_level=log_level, proxy_headers=False)
        return
    for warning in worker_environment(settings, database.url):
        click.echo(f"warning: {warning}", err=True)
    uvicorn.run(
        "api.main:create_app", factory=True, workers=workers, host=host, port=port, log_level=log_level, proxy_headers=False
    )
