"""pipeline_runs: one row per settlement run (a day), with its outcome and row counts.

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE pipeline_runs (
            id           bigint GENERATED ALWAYS AS IDENTITY,
            run_date     date NOT NULL,
            trigger      text NOT NULL DEFAULT 'manual',
            started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
            finished_at  timestamptz,
            status       text NOT NULL DEFAULT 'RUNNING',
            row_counts   jsonb NOT NULL DEFAULT '{}'::jsonb,
            error        text,
            CONSTRAINT pk_pipeline_runs PRIMARY KEY (id),
            CONSTRAINT ck_pipeline_runs_status CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED')),
            CONSTRAINT ck_pipeline_runs_finished CHECK ((status = 'RUNNING') = (finished_at IS NULL))
        );
        CREATE INDEX ix_pipeline_runs_run_date ON pipeline_runs (run_date, started_at DESC);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE pipeline_runs")
