"""Where an ad slot plays, and which slots a PROGRESS crossed, each one function of the database.

SPEC: slot k plays at k times the slot length; a PROGRESS's playing crosses slot k when
position - watched < k * length <= position. That rule was written out four times: in record_playback
(0040), the engine's macros (quality_rules.sql), the API's list of a video's ads, and the API's
candidate impression ids. Now:

- ad_slot_starts_at(slot, slot_seconds): where slot k plays, k * slot_seconds;
- ad_slots_crossed(position_seconds, watched_seconds, slot_seconds): the slots crossed, as an int8range
  (empty when none), [greatest(position - watched, 0) / length + 1, position / length].

record_playback (0040's, otherwise unchanged) takes its slots from ad_slots_crossed; the engine's
macros and the API's reads call the functions; the API's candidate ids are checked against
ad_slots_crossed (tests/test_ad_slot_rule.py). Both are plain SQL expressions the planner inlines.

Revision ID: 0062
"""

from alembic import op
from settlement.migrations import earlier_migration

revision = "0062"
down_revision = "0061"
branch_labels = None
depends_on = None


SET_BASED_RECORDING = earlier_migration("0040_set_based_recording.py")
RECORD_PLAYBACK_0040 = SET_BASED_RECORDING.FUNCTIONS[SET_BASED_RECORDING.FUNCTIONS.index("CREATE FUNCTION record_playback(") :]

SLOT_FUNCTIONS = """
CREATE FUNCTION ad_slot_starts_at(p_slot integer, p_slot_seconds integer)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$ SELECT p_slot::bigint * p_slot_seconds $fn$;

CREATE FUNCTION ad_slots_crossed(p_position_seconds bigint, p_watched_seconds bigint, p_slot_seconds integer)
RETURNS int8range
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT CASE WHEN p_position_seconds / p_slot_seconds >= greatest(p_position_seconds - p_watched_seconds, 0) / p_slot_seconds + 1
                THEN int8range(greatest(p_position_seconds - p_watched_seconds, 0) / p_slot_seconds + 1,
                               p_position_seconds / p_slot_seconds, '[]')
                ELSE 'empty'::int8range END
$fn$;
"""


def record_playback_by_the_function() -> str:
    text = RECORD_PLAYBACK_0040.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    for old, new in (
        (
            "          AND e_positions[a.k] / p_slot_seconds > (e_positions[a.k] - e_watched[a.k]) / p_slot_seconds\n",
            "          AND NOT isempty(ad_slots_crossed(e_positions[a.k], e_watched[a.k], p_slot_seconds))\n",
        ),
        (
            "          AND va.slot * p_slot_seconds > e_positions[a.k] - e_watched[a.k] AND va.slot * p_slot_seconds <= e_positions[a.k]\n",
            "          AND ad_slots_crossed(e_positions[a.k], e_watched[a.k], p_slot_seconds) @> va.slot::bigint\n",
        ),
    ):
        if text.count(old) != 1:
            raise RuntimeError(f"migration 0062 expected the text once: {old}")
        text = text.replace(old, new)
    return text


def upgrade() -> None:
    op.execute(SLOT_FUNCTIONS)
    op.execute(record_playback_by_the_function())


def downgrade() -> None:
    op.execute(RECORD_PLAYBACK_0040.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute("DROP FUNCTION ad_slots_crossed(bigint, bigint, integer)")
    op.execute("DROP FUNCTION ad_slot_starts_at(integer, integer)")
