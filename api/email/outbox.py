"""The email outbox: mail is written to email_outbox in the transaction that makes it necessary
(a signup), and delivered after commit by a task of the API process, so a rolled-back signup sends
nothing and a failed delivery is tried again.

A round claims pending rows (SKIP LOCKED: several API processes share one outbox without sending a
message twice), sends them, and marks them sent, each statement in autocommit: no transaction or
lock is held while a message is sent, nor ever while this task waits. A claim not settled within
email_outbox_claim_seconds (the process died) lapses, and the message is tried again.
"""

import asyncio
import contextlib
import logging

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.config import ApiSettings
from api.database import ConnectionPool
from api.email.senders import EmailSender, OutgoingEmail

log = logging.getLogger(__name__)
BATCH = 20


async def enqueue(conn: AsyncConnection[DictRow], message: OutgoingEmail) -> None:
    await conn.execute(
        "INSERT INTO email_outbox (recipient, subject, body) VALUES (%s, %s, %s)",
        (message.recipient, message.subject, message.body),
    )


class OutboxDispatcher:
    def __init__(self, pool: ConnectionPool, sender: EmailSender, settings: ApiSettings) -> None:
        self._pool = pool
        self._sender = sender
        self._poll_seconds = settings.email_outbox_poll_seconds
        self._max_attempts = settings.email_outbox_max_attempts
        self._wake = asyncio.Event()
        self._wake.set()  # what is pending at start goes first
        self._stopping = False
        self._claim_seconds = settings.email_outbox_claim_seconds

    def wake(self) -> None:
        """Delivers soon, not at the next poll (after a commit that queued mail)."""
        self._wake.set()

    async def run(self) -> None:
        """Delivers until stop()."""
        while not self._stopping:
            self._wake.clear()
            try:
                while await self.deliver_pending() == BATCH:
                    pass
            except Exception:
                log.exception("email outbox: delivery round failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_seconds):
                    await self._wake.wait()

    async def stop(self, task: asyncio.Task[None]) -> None:
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
            await conn.set_autocommit(True)
            try:
                cursor = await conn.execute(
                    """
                    UPDATE email_outbox
                    SET attempts = attempts + 1, claimed_until = settlement_now() + make_interval(secs => %s)
                    WHERE id IN (
                        SELECT id FROM email_outbox
                        WHERE sent_at IS NULL AND attempts < %s AND (claimed_until IS NULL OR claimed_until < settlement_now())
                        ORDER BY id LIMIT %s
                        FOR UPDATE SKIP LOCKED
                    )
                    RETURNING id, recipient, subject, body
                    """,
                    (self._claim_seconds, self._max_attempts, BATCH),
                )
                claimed = await cursor.fetchall()
                for row in claimed:
                    await self._deliver(conn, row)
            finally:
                await conn.set_autocommit(False)  # the pool's other users work in transactions
        return len(claimed)

    async def _deliver(self, conn: AsyncConnection[DictRow], row: DictRow) -> None:
        try:
            await self._sender.send(OutgoingEmail(row["recipient"], row["subject"], row["body"]))
        except Exception as exc:
            log.warning("email outbox: message %s not delivered: %s", row["id"], exc.__class__.__name__)
            await conn.execute(
                "UPDATE email_outbox SET claimed_until = NULL, last_error = %s WHERE id = %s",
                (exc.__class__.__name__, row["id"]),
            )
            return
        await conn.execute("UPDATE email_outbox SET claimed_until = NULL, sent_at = settlement_now() WHERE id = %s", (row["id"],))
