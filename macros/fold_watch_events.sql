{#-
    fold_watch_events(last_counted_at, left_unused, occurred_at[], kind[], watched_seconds[], window, slack):
    the watch credit (quality_rules.sql) applied one event after the other, for the few (user, video)
    pairs whose day the ordered pass (pair_pass) cannot settle at once, and for the first seconds of the
    next day that an impression just before midnight may have been played in (int_ad_impressions_daily).

    The arrays hold a pair's events that break no rule on their own, in the pair's time order; the pair's
    state before them is its last counted event (null: none) and what that event left of its credit.
    Each event is returned as (item, counts, is_view, credit_left): its position in the arrays, whether it
    counts, whether it is a view, and, when it counts, what it leaves of the credit for the next event.

    Created by the run's on-run-start (begin_settlement_run), in the models' schema.
-#}
{% macro create_fold_watch_events(schema) -%}
create schema if not exists {{ schema }};
drop function if exists {{ schema }}.fold_watch_events(timestamptz, timestamptz[], text[], integer[], text[], interval, integer);
create or replace function {{ schema }}.fold_watch_events(
    p_last_counted_at timestamptz,
    p_left_unused interval,
    p_occurred_at timestamptz[],
    p_kind text[],
    p_watched_seconds integer[],
    p_window interval,
    p_slack interval
) returns table (item integer, counts boolean, is_view boolean, credit_left interval)
language plpgsql immutable parallel safe as $fold$
declare
    last_counted_at timestamptz := p_last_counted_at;
    left_unused interval := p_left_unused;
    credit interval;
begin
    for n in 1 .. coalesce(array_length(p_occurred_at, 1), 0) loop
        credit := {{ watch_credit('last_counted_at', 'left_unused', 'p_occurred_at[n]', 'p_window', 'p_slack') }};
        item := n;
        counts := {{ fits_credit('p_watched_seconds[n]', 'credit') }};
        is_view := counts and {{ is_view('last_counted_at', 'p_occurred_at[n]', 'p_kind[n]', 'p_window') }};
        credit_left := null;
        if counts then
            last_counted_at := p_occurred_at[n];
            left_unused := least(credit - make_interval(secs => p_watched_seconds[n]), p_slack);
            credit_left := left_unused;
        end if;
        return next;
    end loop;
end
$fold$;
{%- endmacro %}
