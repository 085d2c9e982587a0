"""The login and signup throttles' counts in the database, shared by every API process.

`settlement serve` runs one API process per core; a throttle counted in each process's memory would let
an attacker guess N times as often, and forget a lockout on the next process. The counts are tiny and
written only by logins and signups (a password hash costs ~0.1 s of a core each anyway).

- throttle_attempts: one row per admitted attempt of a key ("login-account/<email>", ...), kept until
  the longest window of its limits has passed (expires_at).
- throttle_attempt(key, amounts, windows) -> integer: moving windows (as the `limits` library counts
  them): the attempt is admitted and counted (0 returned) when, for every limit i, fewer than amounts[i]
  attempts were counted in the last windows[i]; else nothing is counted and the answer is how many
  seconds until the fullest limit has room (at least 1), for Retry-After. Attempts of one key are
  judged one at a time (an advisory lock on the key), so a burst from several processes is counted
  exactly. Expired rows of the key go at each call, those of other keys now and then.
- throttle_forget(key): a successful login forgets the account's failed attempts.

Revision ID: 0041
"""

from alembic import op

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE throttle_attempts (
            key          text NOT NULL,
            attempted_at timestamptz NOT NULL,
            expires_at   timestamptz NOT NULL
        );
        CREATE INDEX ix_throttle_attempts_key_attempted_at ON throttle_attempts (key, attempted_at);
        CREATE INDEX ix_throttle_attempts_expires_at ON throttle_attempts (expires_at);

        CREATE FUNCTION throttle_attempt(p_key text, p_amounts integer[], p_windows interval[]) RETURNS integer
        LANGUAGE plpgsql AS $fn$
        -- 0: admitted and counted; else the seconds until the fullest limit has room (nothing counted).
        DECLARE
            at_now constant timestamptz := settlement_clock();
            wait double precision;
        BEGIN
            IF EXISTS (SELECT 1 FROM unnest(p_amounts) AS amount WHERE amount < 1) THEN
                RAISE EXCEPTION 'throttle_attempt: every limit must admit at least one attempt, not %', p_amounts
                    USING ERRCODE = '22023';
            END IF;
            PERFORM pg_advisory_xact_lock(settlement_lock_key('throttle ' || p_key));
            -- a limit is used up when its amount-th latest attempt is inside its window: room again once
            -- that one leaves it
            SELECT max(extract(epoch FROM blocking.attempted_at + l.window_length - at_now)) INTO wait
            FROM unnest(p_amounts, p_windows) AS l(amount, window_length)
            CROSS JOIN LATERAL (
                SELECT a.attempted_at FROM throttle_attempts a
                WHERE a.key = p_key AND a.attempted_at > at_now - l.window_length
                ORDER BY a.attempted_at DESC
                OFFSET l.amount - 1 LIMIT 1
            ) AS blocking;
            IF wait IS NOT NULL THEN
                RETURN greatest(1, ceil(wait))::integer;
            END IF;
            INSERT INTO throttle_attempts (key, attempted_at, expires_at)
            SELECT p_key, at_now, at_now + max(window_length) FROM unnest(p_windows) AS window_length;
            DELETE FROM throttle_attempts WHERE key = p_key AND expires_at <= at_now;
            IF random() < 0.01 THEN
                DELETE FROM throttle_attempts WHERE expires_at <= at_now;
            END IF;
            RETURN 0;
        END
        $fn$;

        CREATE FUNCTION throttle_forget(p_key text) RETURNS void
        LANGUAGE sql AS $fn$
            DELETE FROM throttle_attempts WHERE key = p_key;
        $fn$;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP FUNCTION throttle_forget(text);
        DROP FUNCTION throttle_attempt(text, integer[], interval[]);
        DROP TABLE throttle_attempts;
        """
    )
