"""days_to_settle_before: days with events before the first settled day are settled too.

0011 looked for unsettled days with events only when no day at all was settled. A day settled first
(say, an empty yesterday) then hid the days with events before it: they were never settled, and the
days after them were settled on an incomplete history. Now the first day to settle is the earliest of:
the first day with events that is not settled (looking before the first settled day), the first gap
after it, and the first settled day that received late events.

Revision ID: 0012
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

DAYS_TO_SETTLE_BEFORE = r"""
CREATE OR REPLACE FUNCTION days_to_settle_before(p_day date, p_horizon_days integer, p_time_zone text) RETURNS date[]
LANGUAGE plpgsql STABLE AS $fn$
-- The days to settle, in order, before p_day can be: each day builds on the one before it (lifetime
-- views, the view window), so every day from the first day with events on is settled, and a settled day
-- that received late events is settled again, with the days after it.
DECLARE
    first_settled date := (SELECT min(day) FROM settled_days);
    first_with_events date;
    first_gap date;
    late date;
    first_needed date;
BEGIN
    -- events before the first settled day (or before p_day, when none is): a full look only then
    SELECT min((occurred_at AT TIME ZONE p_time_zone)::date) INTO first_with_events
    FROM watch_events
    WHERE occurred_at < least(p_day, coalesce(first_settled, p_day))::timestamp AT TIME ZONE p_time_zone;
    SELECT min(d::date) INTO first_gap
    FROM generate_series(first_settled, p_day - 1, interval '1 day') AS d
    WHERE first_settled IS NOT NULL AND NOT EXISTS (SELECT 1 FROM settled_days WHERE day = d::date);
    SELECT min(d) INTO late FROM days_with_late_events(p_day - p_horizon_days, p_day, p_time_zone) AS d;
    first_needed := least(first_with_events, first_gap, late);
    IF first_needed IS NULL OR first_needed >= p_day THEN
        RETURN '{}';
    END IF;
    RETURN ARRAY(SELECT d::date FROM generate_series(first_needed, p_day - 1, interval '1 day') AS d);
END
$fn$;
"""


def _previous():
    spec = importlib.util.spec_from_file_location("settlement_0011", Path(__file__).with_name("0011_pipeline_state.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.execute(DAYS_TO_SETTLE_BEFORE)


def downgrade() -> None:
    functions = _previous().FUNCTIONS
    start = functions.index("CREATE FUNCTION days_to_settle_before")
    op.execute(functions[start:].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
