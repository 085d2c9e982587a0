"""ad_impressions.slot: which of the video's ad slots the impression was shown at.

An impression of slot k counts only when the viewer's playing moved the playhead across k times the
slot interval (SPEC.md, "What does not count"); the engine needs the slot to check that, and to
count at most one ad view per (viewer, video, slot) and day. Impressions stored before this revision
take their slot from video_ads when the ad holds exactly one slot of the video; the others keep none
(and are quarantined as unknown_slot when their day is settled again).

Revision ID: 0008
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE ad_impressions ADD COLUMN slot integer;
        UPDATE ad_impressions AS impressions
        SET slot = slots.slot
        FROM (SELECT video_id, ad_id, min(slot) AS slot FROM video_ads GROUP BY video_id, ad_id HAVING count(*) = 1) AS slots
        WHERE slots.video_id = impressions.video_id AND slots.ad_id = impressions.ad_id;
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE ad_impressions DROP COLUMN slot")
