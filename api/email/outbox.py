"""The email outbox: mail is written to email_outbox in the transaction that makes it necessary
(a signup), and delivered after commit by a task of the API process, so a rolled-back signup sends
nothing and a failed delivery is tried again. Rows are claimed with SKIP LOCKED: several API
processes share one outbox without sending a message twice."""

import asyncio
import contextlib
import logging

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool

from api.email.senders import EmailSender, OutgoingEmail
from settlement.config import Settings

log = logging.getLogger(__name__)
BATCH = 20


async def enqueue(conn: AsyncConnection[DictRow], message: OutgoingEmail) -> None:
    await conn.execute(
        "INSERT INTO email_outbox (recipient, subject, body) VALUES (%s, %s, %s)",
        (message.recipient, message.subject, message.body),
    )


class OutboxDispatcher:
    def __init__(self, pool: AsyncConnectionPool, sender: EmailSender, settings: Settings) -> None:
        self._pool = pool
        self._sender = sender
        self._poll_seconds = settings.email_outbox_poll_seconds
        self._max_attempts = settings.email_outbox_max_attempts
        self._wake = asyncio.Event()
        self._wake.set()  # what is pending at start goes first
        self._stopping = False
        self._round = asyncio.Lock()

    def wake(self) -> None:
        """Delivers soon, not at the next poll (after a commit that queued mail)."""
        self._wake.set()

    async def run(self) -> None:
        """Delivers until stop()."""
        while not self._stopping:
            async with self._round:
                self._wake.clear()
                try:
                    while await self.deliver_pending() == BATCH:
                        pass
                except Exception:
                    log.exception("email outbox: delivery round failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_seconds):
                    await self._wake.wait()

    async def settled(self) -> None:
        """Returns once no delivery is under way or asked for."""
        while self._wake.is_set() or self._round.locked():
            await asyncio.sleep(0.01)

    async def stop(self, task: asyncio.Task) -> None:
        """Ends run() (task) after the delivery in progress, if any."""
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self._poll_seconds)
        except TimeoutError:
            task.cancel()

    async def deliver_pending(self) -> int:
        """Sends up to BATCH pending messages; how many were tried."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                """
                SELECT id, recipient, subject, body FROM email_outbox
                WHERE sent_at IS NULL AND attempts < %s
                ORDER BY id LIMIT %s
                FOR UPDATE SKIP LOCKED
                """,
                (self._max_attempts, BATCH),
            )
            pending = await cursor.fetchall()
            for row in pending:
                await self._deliver(conn, row)
        return len(pending)

    async def _deliver(self, conn: AsyncConnection[DictRow], row: DictRow) -> None:
        try:
            await self._sender.send(OutgoingEmail(row["recipient"], row["subject"], row["body"]))
        except Exception as exc:
            log.warning("email outbox: message %s not delivered: %s", row["id"], exc.__class__.__name__)
            await conn.execute(
                "UPDATE email_outbox SET attempts = attempts + 1, last_error = %s WHERE id = %s",
                (exc.__class__.__name__, row["id"]),
            )
            return
        await conn.execute(
            "UPDATE email_outbox SET attempts = attempts + 1, sent_at = now() WHERE id = %s", (row["id"],)
        )
