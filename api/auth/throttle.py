"""Throttling of logins and signups: attempts counted per key in moving windows, in the storage
settings.throttle_storage_uri names: `database` (the default), the API's own PostgreSQL, so that every
API process counts the same attempts (migration 0041); or a `limits` library storage URI
(async+memory://: per API process, async+redis://...).

A refused attempt is not counted, and answers at once: it costs no password hash.
"""

import datetime as dt
import math
import time

from fastapi import HTTPException, Request, status
from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from api.database import ConnectionPool, one_row

DATABASE_STORAGE = "database"


def too_many_attempts(retry_after: int) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=f"too many attempts: try again in {retry_after} seconds",
        headers={"Retry-After": str(retry_after)},
    )


def client_address(request: Request) -> str:
    """The client's address (behind a proxy, the one uvicorn's --forwarded-allow-ips lets it trust)."""
    return request.client.host if request.client else "unknown"


class Throttle:
    def __init__(self, storage_uri: str, pool: ConnectionPool | None = None) -> None:
        if storage_uri == DATABASE_STORAGE:
            if pool is None:
                raise ValueError("the database throttle needs the API's connection pool")
            self._counts: DatabaseCounts | LimitsCounts = DatabaseCounts(pool)
        else:
            self._counts = LimitsCounts(storage_uri)

    async def admit(self, limits: str, *key: str) -> None:
        """Counts an attempt for key under each of limits ("5/minute;20/hour"); raises 429, with
        Retry-After, when one of them is used up."""
        retry_after = await self._counts.attempt(parse_many(limits), key)
        if retry_after:
            raise too_many_attempts(retry_after)

    async def forget(self, limits: str, *key: str) -> None:
        await self._counts.forget(parse_many(limits), key)


class DatabaseCounts:
    """The counts in throttle_attempts, judged by throttle_attempt() one attempt of a key at a time."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    async def attempt(self, limits: list[RateLimitItem], key: tuple[str, ...]) -> int:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT throttle_attempt(%s, %s::integer[], %s::interval[]) AS retry_after",
                (
                    "/".join(key),
                    [limit.amount for limit in limits],
                    [dt.timedelta(seconds=limit.get_expiry()) for limit in limits],
                ),
            )
            retry_after: int = (await one_row(cursor))["retry_after"]
            return retry_after

    async def forget(self, limits: list[RateLimitItem], key: tuple[str, ...]) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("SELECT throttle_forget(%s)", ("/".join(key),))


class LimitsCounts:
    """The counts in a `limits` storage."""

    def __init__(self, storage_uri: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    async def attempt(self, limits: list[RateLimitItem], key: tuple[str, ...]) -> int:
        for limit in limits:
            if not await self._limiter.hit(limit, *key):
                stats = await self._limiter.get_window_stats(limit, *key)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return 0

    async def forget(self, limits: list[RateLimitItem], key: tuple[str, ...]) -> None:
        for limit in limits:
            await self._limiter.clear(limit, *key)
