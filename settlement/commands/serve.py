"""`settlement serve`: the API (FastAPI under uvicorn), on a database whose schema is up to date."""

import click

from settlement import db
from settlement.commands import open_database
from settlement.config import get_settings
from settlement.migrations import schema_problem  # noqa: F401  (where the scheduler and tests find it)


@click.command("serve", short_help="Serve the HTTP API (docs at /docs).", help="Serve the HTTP API (OpenAPI docs at /docs) on a database whose schema is the code's.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port.")
@click.option(
    "--log-level", default="info", show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def command(host: str, port: int, log_level: str) -> None:
    import uvicorn

    from api.main import create_app

    settings = get_settings()
    database = open_database(settings)
    click.echo(f"database: {db.describe(database.url)} ({database.source})", err=True)
    click.echo(f"API docs: http://{host}:{port}/docs", err=True)
    # The app believes X-Forwarded-* from settings.trusted_proxies alone (api.main.create_app); uvicorn's own
    # handling would believe them from 127.0.0.1 by default, i.e. from any client of a local proxy.
    uvicorn.run(create_app(settings, database.url), host=host, port=port, log_level=log_level, proxy_headers=False)
