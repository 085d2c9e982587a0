"""Alembic runs against the connection settlement.migrations hands it (or the resolved database)."""

import psycopg
from sqlalchemy import create_engine, pool

from alembic import context

config = context.config


def database_url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return url
    from settlement.config import get_settings
    from settlement.db import resolve_database

    return resolve_database(get_settings()).url


def run_migrations_online() -> None:
    url = database_url()
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run against a database")
run_migrations_online()
