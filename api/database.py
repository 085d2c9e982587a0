"""The connection pool, opened for the app's lifespan, and the per-request connection.

A request gets one connection and one transaction: committed when the endpoint returns, rolled back
when it raises, and in both cases before the response is sent (scope="function").
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from api.config import ApiSettings
from settlement.db import resolve_database
from settlement.warehouse import Lock

# The API's pool: its connections make dict rows (open_pool).
ConnectionPool = AsyncConnectionPool[AsyncConnection[DictRow]]

Row = TypeVar("Row")


async def one_row(cursor: AsyncCursor[Row]) -> Row:
    """The row of a query that always returns one (an aggregate, a function's result, INSERT ... RETURNING)."""
    row = await cursor.fetchone()
    if row is None:
        raise LookupError("the query returned no row")
    return row


@asynccontextmanager
async def open_pool(settings: ApiSettings, database_url: str | None = None) -> AsyncIterator[ConnectionPool]:
    """A pool against database_url, or the database the settings resolve to."""
    pool: ConnectionPool = AsyncConnectionPool(
        database_url or resolve_database(settings).url,
        min_size=settings.api_pool_min_size,
        max_size=max(settings.api_pool_max_size, settings.api_pool_min_size),
        kwargs={"row_factory": dict_row},
        open=False,
        name="api",
    )
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()


async def get_connection(request: Request) -> AsyncIterator[AsyncConnection[DictRow]]:
    pool: ConnectionPool = request.app.state.pool
    async with pool.connection() as connection:
        yield connection


async def get_results_connection(request: Request) -> AsyncIterator[AsyncConnection[DictRow]]:
    """A connection for reading settlement results: its transaction first waits until no day is being
    published, and keeps one from being published until it ends, so it sees each day whole."""
    pool: ConnectionPool = request.app.state.pool
    async with pool.connection() as connection:
        await connection.execute("SELECT pg_advisory_xact_lock_shared(settlement_lock_key(%s))", (Lock.PUBLISH.value,))
        yield connection


Connection = Annotated[AsyncConnection[DictRow], Depends(get_connection, scope="function")]
ResultsConnection = Annotated[AsyncConnection[DictRow], Depends(get_results_connection, scope="function")]


async def get_pool(request: Request) -> ConnectionPool:
    """The pool itself, for endpoints that must not hold a connection while they wait on something
    else (password hashing, another server): they take one per transaction."""
    pool: ConnectionPool = request.app.state.pool
    return pool


Pool = Annotated[ConnectionPool, Depends(get_pool)]
