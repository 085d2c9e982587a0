"""Throttling of logins and signups: attempts counted per key in moving windows (the `limits`
library), in the storage settings.throttle_storage_uri names (memory: per API process).

A refused attempt is not counted, and answers at once: it costs no password hash.
"""

import math
import time

from fastapi import HTTPException, Request, status
from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string


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
    def __init__(self, storage_uri: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    async def admit(self, limits: str, *key: str) -> None:
        """Counts an attempt for key under each of limits ("5/minute;20/hour"); raises 429, with
        Retry-After, when one of them is used up."""
        for limit in parse_many(limits):
            if not await self._limiter.hit(limit, *key):
                raise too_many_attempts(await self._seconds_until_free(limit, key))

    async def forget(self, limits: str, *key: str) -> None:
        for limit in parse_many(limits):
            await self._limiter.clear(limit, *key)

    async def _seconds_until_free(self, limit: RateLimitItem, key: tuple[str, ...]) -> int:
        stats = await self._limiter.get_window_stats(limit, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))
