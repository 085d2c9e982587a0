"""Password hashing (argon2id, through pwdlib): off the event loop, a bounded number at a time.

Each hash takes one core for about a tenth of a second on purpose. Computed in a pool of
password_hash_concurrency threads, a burst of logins queues for them instead of taking every core
from the requests that only read; past password_hash_max_waiting queued, it is refused (503).
Hashes made with other parameters (older accounts) are replaced at the next successful login.
"""

import asyncio
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

from api.config import ApiSettings

Result = TypeVar("Result")


class HashingBusy(Exception):
    """Too many passwords are waiting to be hashed."""


def _encoded(password: str) -> bytes:
    # JSON may carry lone surrogates ("\ud800"), which strict UTF-8 cannot encode.
    return password.encode("utf-8", "surrogatepass")


class Passwords:
    def __init__(self, settings: ApiSettings) -> None:
        hasher = Argon2Hasher(
            time_cost=settings.password_hash_time_cost,
            memory_cost=settings.password_hash_memory_kib,
            parallelism=settings.password_hash_parallelism,
        )
        self._hashing = PasswordHash((hasher,))
        self._threads = ThreadPoolExecutor(settings.password_hash_concurrency, thread_name_prefix="password-hash")
        self._capacity = settings.password_hash_concurrency + settings.password_hash_max_waiting
        self._in_progress = 0
        # Checked when the email is unknown, so that a wrong email takes as long as a wrong password.
        self._unknown_user_hash = self._hashing.hash(secrets.token_hex(16))

    async def _in_thread(self, function: Callable[..., Result], *args: Any) -> Result:
        if self._in_progress >= self._capacity:
            raise HashingBusy
        self._in_progress += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, partial(function, *args))
        finally:
            self._in_progress -= 1

    async def hash(self, password: str) -> str:
        return await self._in_thread(self._hashing.hash, _encoded(password))

    async def verify(self, password: str, stored_hash: str | None) -> tuple[bool, str | None]:
        """(whether the password matches, a new hash to store when the stored one is outdated)."""
        if stored_hash is None:
            await self._in_thread(self._hashing.verify, _encoded(password), self._unknown_user_hash)
            return False, None
        try:
            return await self._in_thread(self._hashing.verify_and_update, _encoded(password), stored_hash)
        except UnknownHashError:
            return False, None

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
