"""An operator's commands in any order (issue 21): a hypothesis state machine of late events for open and
closed days, settling a day or a range, closing, `settlement run --rebuild`, `dbt build --full-refresh`,
a run that fails half way and a rule changed on the command line. After every step:
- every closed day shows exactly what it was closed with (its payable rows, its day in every period
  mart and ranking, the adjustments booked on it);
- every period is the sum of the published days it covers;
- a step that failed, or was refused, changed nothing readers see;
- after a run that succeeded: every settled day is the independent reference's (open or closed, as the
  engine settles it now), and what was paid for the closed days plus the adjustments booked for them
  is what they come to now (each difference booked once).
"""

import datetime as dt
import os
from collections import defaultdict

import psycopg
import pytest
from hypothesis import note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from settlement import closing, pipeline, rebuild
from settlement.config import EngineSettings
from tests.conftest import empty_database
from tests.engine.scenario import Platform, at, reference_settlement
from tests.hypothesis_profiles import examples

D0 = dt.date(2026, 11, 2)  # a Monday: a week and a month boundary ahead
LAST = D0 + dt.timedelta(days=6)
FAILING_MODELS = ["int_video_lifetime_daily", "fct_video_daily", "fct_video_payouts", "rpt_top_videos"]
# Periods whose sums are not their days', and days of a video missing from one of its periods.
PERIOD_CHECK = """
    SELECT (SELECT count(*) FROM analytics.fct_video_payouts AS period
            CROSS JOIN LATERAL (
                SELECT coalesce(sum(views), 0) AS views, coalesce(sum(video_payout), 0) AS video_payout,
                       coalesce(sum(ad_payout), 0) AS ad_payout, coalesce(sum(adjustment), 0) AS adjustment
                FROM analytics.fct_video_payable_daily AS day
                WHERE day.video_id = period.video_id AND day.settled_on >= period.period_start
                  AND day.settled_on < (period.period_start + ('1 ' || period.period)::interval)::date) AS days
            WHERE (period.views, period.video_payout, period.ad_payout, period.adjustment)
                  IS DISTINCT FROM (days.views, days.video_payout, days.ad_payout, days.adjustment))
         + (SELECT count(*) FROM analytics.fct_video_payable_daily AS day
            CROSS JOIN (VALUES ('day'), ('week'), ('month')) AS periods (period)
            WHERE NOT EXISTS (
                SELECT 1 FROM analytics.fct_video_payouts AS period
                WHERE period.video_id = day.video_id AND period.period = periods.period
                  AND period.period_start = date_trunc(periods.period, day.settled_on)::date))
"""


def published(conn) -> dict:
    """What readers see: every published mart, whole."""
    return {
        table: sorted(map(repr, conn.execute(f"SELECT * FROM analytics.{table}").fetchall()))
        for table in ("fct_video_daily", "fct_video_payable_daily", "fct_video_ad_payable_daily", "fct_payout_adjustments",
                      "fct_video_payouts", "fct_video_ad_payouts", "rpt_top_videos", "fct_event_intake_daily")
    }  # fmt: skip


def closed_day_as_shown(conn, day: dt.date) -> list:
    shown = []
    for query in (
        "SELECT 'paid', video_id, views, video_payout, ad_payout, adjustment FROM analytics.fct_video_payable_daily WHERE settled_on = %s",
        "SELECT 'ads', video_id, ad_id, ad_views, ad_payout FROM analytics.fct_video_ad_payable_daily WHERE settled_on = %s",
        "SELECT 'day', video_id, views, watch_seconds, payout FROM analytics.fct_video_payouts WHERE period = 'day' AND period_start = %s",
        "SELECT 'top', scope, metric, rank, video_id FROM analytics.rpt_top_videos WHERE period = 'day' AND period_start = %s",
        "SELECT 'booked', video_id, belongs_to, payout_delta FROM analytics.fct_payout_adjustments WHERE booked_on = %s",
    ):
        shown += sorted(map(repr, conn.execute(query, (day,)).fetchall()))
    return shown


def operator_machine(database_url: str):
    class Operator(RuleBasedStateMachine):
        """The platform's days D0 .. LAST, settled and closed as an operator would, in any order."""

        @initialize()
        def a_platform_with_two_settled_days(self):
            self.conn = psycopg.connect(database_url, autocommit=True)
            empty_database(self.conn)
            self.settings = EngineSettings(_env_file=None, database_url=database_url)
            self.p = Platform(self.conn)
            seller = self.p.user("seller", "SELLER")
            self.videos = [self.p.video(seller, 900) for _ in range(2)]
            self.ad = self.p.ad(D0 - dt.timedelta(days=10), LAST + dt.timedelta(days=10))
            self.conn.execute(
                "INSERT INTO video_ads (video_id, ad_id, slot) SELECT unnest(%s::bigint[]), %s, 1", (self.videos, self.ad)
            )
            self.viewers = 0
            for day in (D0, D0 + dt.timedelta(days=1)):
                self.views(day, 2)
            self.last, self.closed, self.frozen = D0 + dt.timedelta(days=1), [], {}
            self.settle(lambda: pipeline.run_days(self.settings, D0, self.last))

        def teardown(self):
            self.conn.close()

        def views(self, day: dt.date, count: int, video: int | None = None, ad_view: bool = False) -> None:
            for _ in range(count):
                self.viewers += 1
                user, video_id = self.p.user(f"viewer{self.viewers}"), video or self.videos[self.viewers % 2]
                self.p.event("START", user, video_id, at(day, 10, self.viewers % 60))
                if ad_view:
                    self.p.event("PROGRESS", user, video_id, at(day, 10, self.viewers % 60, 30), 20, 305)
                    self.p.impression(user, video_id, self.ad, 1, at(day, 10, self.viewers % 60, 30))

        def settle(self, run) -> None:
            results = run()
            assert results and all(r.succeeded for r in results), [r.error for r in results]
            self.check_fresh()

        def unchanged_for_readers(self, step) -> None:
            before = published(self.conn)
            step()
            assert published(self.conn) == before

        def check_fresh(self) -> None:
            settled = [day for (day,) in self.conn.execute("SELECT day FROM settled_days ORDER BY day")]
            expected, _ = reference_settlement(self.p, settled)
            actual = {
                (day, video): payout
                for day, video, payout in self.conn.execute("SELECT settled_on, video_id, payout FROM analytics.fct_video_daily")
            }
            assert actual == {key: row["payout"] for key, row in expected.items()}
            totals = defaultdict(lambda: [0, 0])
            for video, amount in self.conn.execute("SELECT video_id, sum(payout) FROM closed_video_payouts GROUP BY 1"):
                totals[video][0] += amount
            for video, amount in self.conn.execute(
                "SELECT video_id, sum(payout_delta) FROM analytics.fct_payout_adjustments WHERE belongs_to = ANY(%s) GROUP BY 1",
                (self.closed,),
            ):
                totals[video][0] += amount
            for video, amount in self.conn.execute(
                "SELECT video_id, sum(payout) FROM analytics.fct_video_daily WHERE settled_on = ANY(%s) GROUP BY 1",
                (self.closed,),
            ):
                totals[video][1] += amount
            assert all(paid == now for paid, now in totals.values()), dict(totals)

        @invariant()
        def closed_days_show_what_they_were_closed_with(self):
            if hasattr(self, "frozen"):
                for day, shown in self.frozen.items():
                    assert closed_day_as_shown(self.conn, day) == shown, day

        @invariant()
        def periods_are_the_sums_of_their_days(self):
            if hasattr(self, "conn"):
                assert self.conn.execute(PERIOD_CHECK).fetchone()[0] == 0

        @rule(day_back=st.integers(0, 6), count=st.integers(1, 2), ad_view=st.booleans())
        def late_views(self, day_back, count, ad_view):
            day = max(D0, self.last - dt.timedelta(days=day_back))
            note(f"late views on {day}{' (closed)' if day in self.closed else ''}")
            self.views(day, count, ad_view=ad_view)

        @rule(day_back=st.integers(0, 6))
        def lost_view(self, day_back):
            """An event a minute before a viewer's START of that day, which then is no view."""
            day = max(D0, self.last - dt.timedelta(days=day_back))
            starts = [e for e in self.p.events if e.kind == "START" and e.occurred_at.astimezone(at(D0, 0).tzinfo).date() == day]
            if starts:
                start = starts[0]
                self.p.event("PAUSE", start.user_id, start.video_id, start.occurred_at - dt.timedelta(minutes=1))

        @precondition(lambda self: self.last < LAST)
        @rule(count=st.integers(0, 2))
        def next_day(self, count):
            self.last += dt.timedelta(days=1)
            self.views(self.last, count, ad_view=True)
            self.settle(lambda: pipeline.run_days(self.settings, self.last))

        @rule(day_back=st.integers(0, 6), through_last=st.booleans())
        def settle_a_day_or_a_range(self, day_back, through_last):
            day = max(D0, self.last - dt.timedelta(days=day_back))
            self.settle(lambda: pipeline.run_days(self.settings, day, self.last if through_last else day))

        @precondition(
            lambda self: any(day not in self.closed for day in pipeline.days_from(D0, self.last - dt.timedelta(days=1)))
        )
        @rule()
        def close_the_first_open_day(self):
            day = next(day for day in pipeline.days_from(D0, self.last - dt.timedelta(days=1)) if day not in self.closed)
            try:
                closing.close_days(self.settings, [day])
            except closing.CannotClose as exc:  # not settled (up to date) yet: refused, nothing changes
                note(f"close {day} refused: {exc}")
                return
            self.closed.append(day)
            self.frozen[day] = closed_day_as_shown(self.conn, day)

        @rule()
        def rebuild_everything(self):
            self.settle(lambda: rebuild.rebuild_days(self.settings, rebuild.plan(self.conn, self.last, self.last, self.settings)))

        @rule()
        def plain_dbt_full_refresh(self):
            before = published(self.conn)
            outcome = pipeline.invoke_dbt(database_url, ["build", "--full-refresh"], {"run_date": self.last.isoformat()})
            if outcome.success:
                self.check_fresh()
            else:  # refused: days to settle first
                assert published(self.conn) == before

        def nothing_pending(self) -> bool:
            return pipeline.plan_days(self.conn, self.last, self.last, self.settings) == [self.last]

        @precondition(nothing_pending)
        @rule(model=st.sampled_from(FAILING_MODELS))
        def a_run_that_fails_half_way(self, model):
            def fail():
                with psycopg.connect(database_url) as holder:
                    holder.execute(f"LOCK TABLE analytics.{model} IN ACCESS EXCLUSIVE MODE")
                    options = os.environ.get("PGOPTIONS", "")
                    os.environ["PGOPTIONS"] = f"{options} -c lock_timeout=1s"
                    try:
                        results = pipeline.run_days(self.settings, self.last)
                    finally:
                        os.environ["PGOPTIONS"] = options
                    assert not all(r.succeeded for r in results)

            self.unchanged_for_readers(fail)

        @precondition(nothing_pending)
        @rule(table=st.sampled_from(["fct_video_payable_daily", "fct_video_ad_payable_daily"]))
        def a_day_table_dropped_by_hand_then_rebuilt(self, table):
            """Not a command, but what a DBA might do instead of one: the next run settles right or stops
            (naming the rebuild, which then repairs it); it never counts the dropped days again."""
            self.conn.execute(f"DROP TABLE analytics.{table} CASCADE")
            results = pipeline.run_days(self.settings, self.last)
            if all(r.succeeded for r in results):
                assert self.conn.execute(PERIOD_CHECK).fetchone()[0] == 0
                self.check_fresh()
            else:
                assert any("settlement run --rebuild" in (r.error or "") for r in results), [r.error for r in results]
            self.rebuild_everything()

        @rule(window=st.sampled_from([1, 24, 72]))
        def a_rule_changed_on_the_command_line(self, window):
            def changed():
                variables = {"run_date": self.last.isoformat(), "view_window_hours": window}
                assert not pipeline.invoke_dbt(database_url, ["build"], variables).success

            self.unchanged_for_readers(changed)

    return Operator


@pytest.mark.parametrize("steps", [examples(10, 25)])
def test_no_sequence_of_commands_breaks_the_ledger(database_url, steps):
    run_state_machine_as_test(
        operator_machine(database_url), settings=settings(max_examples=examples(1, 15), stateful_step_count=steps)
    )
