"""Email verification and single-use Kakao login states.

- users.email_verified: whether the owner of the email proved it (the link sent at signup, or a
  Kakao login whose email Kakao verified). Password accounts start unverified (the API's signup
  stores false) and cannot log in. Accounts that existed before this revision count as verified, and
  so do rows written by other means (the column defaults to true: the data generator, operators;
  a constant, so the generator's rows stay the same for the same seed).
  The email is unique among verified accounts only: an unverified signup never blocks the owner.
- email_verifications: one pending link per signup (the token's SHA-256, never the token).
- email_outbox: mail to deliver, written in the transaction that needs it, sent after commit
  (claimed_until: a delivery under way).
- used_kakao_states: Kakao login states already used, kept until they expire: a replayed state is refused.

Downgrade deletes unverified accounts (the unique email constraint comes back) and the tables above.

Revision ID: 0030
"""

from alembic import op

revision = "0030"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT true;
        ALTER TABLE users DROP CONSTRAINT uq_users_email;
        CREATE UNIQUE INDEX uq_users_email_verified ON users (email) WHERE email_verified;
        CREATE INDEX ix_users_email ON users (email);

        CREATE TABLE email_verifications (
            id          bigint GENERATED ALWAYS AS IDENTITY,
            user_id     bigint NOT NULL,
            token_hash  bytea NOT NULL,
            expires_at  timestamptz NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_email_verifications PRIMARY KEY (id),
            CONSTRAINT uq_email_verifications_token_hash UNIQUE (token_hash),
            CONSTRAINT fk_email_verifications_user_id_users FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
        );
        CREATE INDEX ix_email_verifications_user_id ON email_verifications (user_id);

        CREATE TABLE email_outbox (
            id          bigint GENERATED ALWAYS AS IDENTITY,
            recipient   text NOT NULL,
            subject     text NOT NULL,
            body        text NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            attempts    integer NOT NULL DEFAULT 0,
            claimed_until timestamptz,
            sent_at     timestamptz,
            last_error  text,
            CONSTRAINT pk_email_outbox PRIMARY KEY (id),
            CONSTRAINT ck_email_outbox_attempts_not_negative CHECK (attempts >= 0)
        );
        CREATE INDEX ix_email_outbox_pending ON email_outbox (id) WHERE sent_at IS NULL;

        CREATE TABLE used_kakao_states (
            nonce       text NOT NULL,
            expires_at  timestamptz NOT NULL,
            CONSTRAINT pk_used_kakao_states PRIMARY KEY (nonce)
        );
        CREATE INDEX ix_used_kakao_states_expires_at ON used_kakao_states (expires_at);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE used_kakao_states, email_outbox, email_verifications;
        DELETE FROM users WHERE NOT email_verified;
        DROP INDEX ix_users_email;
        DROP INDEX uq_users_email_verified;
        ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE (email);
        ALTER TABLE users DROP COLUMN email_verified;
        """
    )
