{#-
    fold_watch_events(prior_counted_at, occurred_at[], kind[], watched_seconds[], is_marker[], window, slack):
    the quality gate's sequence rules applied one event after the other, for the few (user, video) pairs
    where the ordered pass of int_pair_daily cannot settle them alone. Whether an event counts depends on
    the pair's previous *counted* event, so a turned-down event changes how the next one is judged.

    Items come in the pair's time order. A marker is a counted event known from elsewhere (it only moves
    the pair's last counted time); every other item is judged and returned as (item, counts, is_view),
    item being its position in the arrays. The rules are the macros of quality_rules.sql.

    Created by int_pair_daily's pre-hook, in the model's schema and transaction.
-#}
{% macro create_fold_watch_events() -%}
create or replace function {{ this.schema }}.fold_watch_events(
    p_prior_counted_at timestamptz,
    p_occurred_at timestamptz[],
    p_kind text[],
    p_watched_seconds integer[],
    p_is_marker boolean[],
    p_window interval,
    p_slack integer
) returns table (item integer, counts boolean, is_view boolean)
language plpgsql immutable parallel safe as $fold$
declare
    last_counted_at timestamptz := p_prior_counted_at;
begin
    for n in 1 .. coalesce(array_length(p_occurred_at, 1), 0) loop
        if p_is_marker[n] then
            last_counted_at := p_occurred_at[n];
            continue;
        end if;
        item := n;
        counts := {{ counts_after('last_counted_at', 'p_occurred_at[n]', 'p_watched_seconds[n]', 'p_window', 'p_slack') }};
        is_view := counts and {{ is_view('last_counted_at', 'p_occurred_at[n]', 'p_kind[n]', 'p_window') }};
        if counts then
            last_counted_at := p_occurred_at[n];
        end if;
        return next;
    end loop;
end
$fold$
{%- endmacro %}
