"""Password resets: how the owner of an address gets its account back (issue 22).

- password_resets: one pending reset link per account (the token's SHA-256, never the token), mailed to
  the account's address. A new request replaces the earlier link; following it sets a new password and
  ends every session of the account (auth_sessions, migration 0051). So an account someone else made and
  verified on an address (the pre-hijack of issue 22, before 0050) goes to the address's owner, and
  whoever held it is signed out.

Downgrade drops the table (pending links stop working).

Revision ID: 0052
"""

from alembic import op

revision = "0052"
down_revision = "0051"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE password_resets (
            id          bigint GENERATED ALWAYS AS IDENTITY,
            user_id     bigint NOT NULL,
            token_hash  bytea NOT NULL,
            expires_at  timestamptz NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT settlement_now(),
            CONSTRAINT pk_password_resets PRIMARY KEY (id),
            CONSTRAINT uq_password_resets_token_hash UNIQUE (token_hash),
            CONSTRAINT fk_password_resets_user_id_users FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
        );
        CREATE INDEX ix_password_resets_user_id ON password_resets (user_id);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE password_resets")
