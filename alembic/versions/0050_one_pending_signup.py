"""One pending signup per email, and a verification link that counts wrong passwords (issue 22).

- The newest signup of an email replaces the earlier pending ones (the API deletes them, and their links,
  in the signup's transaction): uq_users_email_pending holds it. So an address receives one live link at a
  time, and a signup an attacker made first cannot be verified by the owner following an older mail.
- email_verifications.failed_attempts: the link's page asks for the password the signup was made with;
  wrong passwords are counted, and the link ends after SETTLEMENT_EMAIL_VERIFICATION_MAX_ATTEMPTS.

Upgrade keeps each email's newest pending signup and deletes the older ones (their links go with them:
they could no longer be followed under the new rule anyway). Downgrade drops the index and the column.

Revision ID: 0050
"""

from alembic import op

revision = "0050"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        DELETE FROM users AS older
        WHERE NOT older.email_verified
          AND EXISTS (SELECT 1 FROM users AS newer WHERE newer.email = older.email AND NOT newer.email_verified AND newer.id > older.id);
        CREATE UNIQUE INDEX uq_users_email_pending ON users (email) WHERE NOT email_verified;

        ALTER TABLE email_verifications
            ADD COLUMN failed_attempts integer NOT NULL DEFAULT 0,
            ADD CONSTRAINT ck_email_verifications_failed_attempts_not_negative CHECK (failed_attempts >= 0);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE email_verifications DROP COLUMN failed_attempts;
        DROP INDEX uq_users_email_pending;
        """
    )
