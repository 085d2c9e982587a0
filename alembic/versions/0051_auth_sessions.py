"""Sessions on the server: every access token names one, and signing out ends it (issue 22).

- auth_sessions: one row per login (password, Kakao, the studio's sign-in), until the token's expiry.
  Access tokens carry its id (claim "sid"); a token is good only while its session row is there, so
  signing out (POST /auth/logout, the studio's sign-out) or a password reset ends it everywhere, before it
  expires. Shared by every API process, since it is in the database. Expired rows are cleared as new
  sessions start.

Tokens issued before this revision name no session: they are refused (their users log in again).

Revision ID: 0051
"""

from alembic import op

revision = "0051"
down_revision = "0050"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE auth_sessions (
            id          uuid NOT NULL DEFAULT gen_random_uuid(),
            user_id     bigint NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT settlement_now(),
            expires_at  timestamptz NOT NULL,
            CONSTRAINT pk_auth_sessions PRIMARY KEY (id),
            CONSTRAINT fk_auth_sessions_user_id_users FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
        );
        CREATE INDEX ix_auth_sessions_user_id ON auth_sessions (user_id);
        CREATE INDEX ix_auth_sessions_expires_at ON auth_sessions (expires_at);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE auth_sessions")
