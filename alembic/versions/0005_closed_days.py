"""Closed days, their frozen payouts, late-event detection, quarantine counts per run.

- closed_days: a day an operator closed (paid out). Its payouts never change again.
- closed_video_payouts / closed_video_ad_payouts: what was paid for a closed day, frozen when it was
  closed (`settlement close`). Later changes to the day (late events) become adjustments, booked in
  the next open day (analytics.fct_payout_adjustments).
- BRIN indexes on received_at: finding a settled day's late arrivals costs a few index pages.
- pipeline_runs.quarantined: events turned down by the quality gate, per source and reason.

Revision ID: 0005
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE closed_days (
            day        date NOT NULL,
            closed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
            closed_by  text NOT NULL DEFAULT current_user,
            CONSTRAINT pk_closed_days PRIMARY KEY (day)
        );

        CREATE TABLE closed_video_payouts (
            day            date NOT NULL,
            video_id       bigint NOT NULL,
            seller_id      bigint NOT NULL,
            views          bigint NOT NULL,
            watch_seconds  bigint NOT NULL,
            ad_views       bigint NOT NULL,
            video_payout   numeric NOT NULL,
            ad_payout      numeric NOT NULL,
            payout         numeric NOT NULL,
            CONSTRAINT pk_closed_video_payouts PRIMARY KEY (day, video_id),
            CONSTRAINT fk_closed_video_payouts_day_closed_days FOREIGN KEY (day) REFERENCES closed_days (day)
        );
        CREATE INDEX ix_closed_video_payouts_seller_id ON closed_video_payouts (seller_id, day);

        CREATE TABLE closed_video_ad_payouts (
            day        date NOT NULL,
            video_id   bigint NOT NULL,
            ad_id      bigint NOT NULL,
            seller_id  bigint NOT NULL,
            ad_views   bigint NOT NULL,
            ad_payout  numeric NOT NULL,
            CONSTRAINT pk_closed_video_ad_payouts PRIMARY KEY (day, video_id, ad_id),
            CONSTRAINT fk_closed_video_ad_payouts_day_closed_days FOREIGN KEY (day) REFERENCES closed_days (day)
        );

        CREATE INDEX ix_watch_events_received_at ON watch_events USING brin (received_at);
        CREATE INDEX ix_ad_impressions_received_at ON ad_impressions USING brin (received_at);

        ALTER TABLE pipeline_runs ADD COLUMN quarantined jsonb NOT NULL DEFAULT '{}'::jsonb;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE pipeline_runs DROP COLUMN quarantined;
        DROP INDEX ix_ad_impressions_received_at;
        DROP INDEX ix_watch_events_received_at;
        DROP TABLE closed_video_ad_payouts, closed_video_payouts, closed_days;
        """
    )
