"""Each settled day records its rules; later days of a re-settled day are settled again; late events
of the next day's first seconds re-settle the day before.

- settled_days.rules: the rules a day was settled under (time zone, view window, slack, clock skew, slot
  length, price tiers), written by the publish. settlement_rules_problem(day, rules, new_rules) says why
  a run under other rules than the open days' cannot go on: closed days keep their own, the open ones
  share one set, which only a re-settlement of every open day may change (`settlement run --rebuild`).
- days_to_settle_before(day, horizon, time zone, slack) also returns the stale days: a settled day is
  stale when a day before it was settled after it (its numbers follow from the earlier days: lifetime
  view positions, the view window, the watch credit), e.g. when a run that settled a day again stopped
  before the days after it.
- days_with_late_events(from, before, time zone, slack): a day's late events include those of the next
  day's first `slack`, where an impression just before midnight may have been played.

Revision ID: 0033
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

FUNCTIONS = r"""
CREATE FUNCTION settlement_rules_problem(p_day date, p_rules jsonb, p_new_rules boolean) RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
-- Why p_day cannot be settled under p_rules (null when it can): they differ, in a rule p_rules names,
-- from the rules p_day was closed under (a closed day keeps its own), or, for an open day, from the
-- rules of the open settled days, unless p_new_rules (every open day is settled again under them).
DECLARE
    closed boolean := EXISTS (SELECT 1 FROM closed_days WHERE day = p_day);
    recorded settled_days;
    differing text;
BEGIN
    IF closed THEN
        SELECT * INTO recorded FROM settled_days WHERE day = p_day;
    ELSIF NOT p_new_rules THEN
        SELECT * INTO recorded FROM settled_days s
        WHERE s.rules IS NOT NULL AND NOT EXISTS (SELECT 1 FROM closed_days c WHERE c.day = s.day)
        ORDER BY s.day DESC LIMIT 1;
    END IF;
    IF recorded.rules IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT key INTO differing FROM jsonb_each(p_rules)
    WHERE recorded.rules -> key IS DISTINCT FROM value ORDER BY key LIMIT 1;
    IF differing IS NULL THEN
        RETURN NULL;
    END IF;
    IF closed THEN
        RETURN format('cannot settle %s under other rules than it was closed under: %s was %s, this run''s is %s (a closed day keeps its rules: `settlement run --date %s` settles it again under them)',
            p_day, differing, recorded.rules -> differing, p_rules -> differing, p_day);
    END IF;
    RETURN format('cannot settle %s under other rules than the open days: %s is %s since %s was settled, this run''s is %s (to settle every open day again under new rules: `settlement run --rebuild`)',
        p_day, differing, recorded.rules -> differing, recorded.day, p_rules -> differing);
END
$fn$;

CREATE FUNCTION days_with_late_events(p_from date, p_before date, p_time_zone text, p_slack interval) RETURNS SETOF date
LANGUAGE plpgsql STABLE AS $fn$
-- Settled days in [p_from, p_before) with events that arrived after their settlement started: events of
-- the day, and watch events of the next day's first p_slack (an impression just before midnight may have
-- been played then). The received_at BRIN indexes keep each look a few pages.
DECLARE
    settled settled_days;
    day_start timestamptz;
    day_end timestamptz;
BEGIN
    FOR settled IN SELECT * FROM settled_days WHERE day >= p_from AND day < p_before ORDER BY day LOOP
        day_start := settled.day::timestamp AT TIME ZONE p_time_zone;
        day_end := (settled.day + 1)::timestamp AT TIME ZONE p_time_zone;
        IF EXISTS (SELECT 1 FROM watch_events
                   WHERE occurred_at >= day_start AND occurred_at <= day_end + p_slack
                     AND received_at > settled.run_started_at)
           OR EXISTS (SELECT 1 FROM ad_impressions
                   WHERE occurred_at >= day_start AND occurred_at < day_end
                     AND received_at > settled.run_started_at)
           OR EXISTS (SELECT 1 FROM duplicate_events
                   WHERE occurred_at >= day_start AND occurred_at < day_end
                     AND received_at > settled.run_started_at) THEN
            RETURN NEXT settled.day;
        END IF;
    END LOOP;
END
$fn$;

CREATE FUNCTION days_to_settle_before(p_day date, p_horizon_days integer, p_time_zone text, p_slack interval) RETURNS date[]
LANGUAGE plpgsql STABLE AS $fn$
-- The days to settle, in order, before p_day can be: each day builds on the one before it (lifetime
-- views, the view window, the watch credit), so every day from the first day with events on is settled;
-- a settled day that received late events is settled again, with the days after it; and so is a stale
-- day, one that a day before it was settled after.
DECLARE
    first_settled date := (SELECT min(day) FROM settled_days);
    first_with_events date;
    first_gap date;
    late date;
    stale date;
    first_needed date;
BEGIN
    -- events before the first settled day (or before p_day, when none is): a full look only then
    SELECT min((occurred_at AT TIME ZONE p_time_zone)::date) INTO first_with_events
    FROM watch_events
    WHERE occurred_at < least(p_day, coalesce(first_settled, p_day))::timestamp AT TIME ZONE p_time_zone;
    SELECT min(d::date) INTO first_gap
    FROM generate_series(first_settled, p_day - 1, interval '1 day') AS d
    WHERE first_settled IS NOT NULL AND NOT EXISTS (SELECT 1 FROM settled_days WHERE day = d::date);
    SELECT min(d) INTO late FROM days_with_late_events(p_day - p_horizon_days, p_day, p_time_zone, p_slack) AS d;
    SELECT min(later.day) INTO stale
    FROM settled_days AS later
    WHERE later.day < p_day
      AND EXISTS (SELECT 1 FROM settled_days AS earlier WHERE earlier.day < later.day AND earlier.settled_at > later.settled_at);
    first_needed := least(first_with_events, first_gap, late, stale);
    IF first_needed IS NULL OR first_needed >= p_day THEN
        RETURN '{}';
    END IF;
    RETURN ARRAY(SELECT d::date FROM generate_series(first_needed, p_day - 1, interval '1 day') AS d);
END
$fn$;

DROP FUNCTION days_to_settle_before(date, integer, text);
DROP FUNCTION days_with_late_events(date, date, text);
"""


def _previous(name: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.execute("ALTER TABLE settled_days ADD COLUMN rules jsonb")
    op.execute("COMMENT ON COLUMN settled_days.rules IS 'The rules the day was settled under (check_settlement_rules).'")
    op.execute(FUNCTIONS)


def downgrade() -> None:
    op.execute(
        """
        DROP FUNCTION days_to_settle_before(date, integer, text, interval);
        DROP FUNCTION days_with_late_events(date, date, text, interval);
        DROP FUNCTION settlement_rules_problem(date, jsonb, boolean);
        ALTER TABLE settled_days DROP COLUMN rules;
        """
    )
    functions = _previous("0011_pipeline_state").FUNCTIONS
    start = functions.index("CREATE FUNCTION days_with_late_events")
    end = functions.index("CREATE FUNCTION days_to_settle_before")
    op.execute(functions[start:end])
    op.execute(_previous("0012_settle_days_before_the_first").DAYS_TO_SETTLE_BEFORE)
