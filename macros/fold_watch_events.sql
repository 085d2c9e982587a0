{#-
    fold_watch_events(prior_counted_at, occurred_at[], kind[], watched_seconds[], role[], window, slack):
    the quality gate's sequence rules applied one event after the other, for the few (user, video) pairs
    the ordered pass (pair_pass) cannot settle alone. Whether an event counts depends on the pair's
    previous *counted* event, so a turned-down event changes how the next one is judged.

    Items come in the pair's time order, each with a role: 'm' a counted event known from elsewhere (it
    only moves the pair's last counted time), 's' an event turned down on its own (it changes nothing),
    'j' an event to judge. Each judged item is returned as (item, counts, is_view), item being its
    position in the arrays. The rules are the macros of quality_rules.sql.

    Created by the run's on-run-start (begin_settlement_run), in the models' schema.
-#}
{% macro create_fold_watch_events(schema) -%}
create schema if not exists {{ schema }};
create or replace function {{ schema }}.fold_watch_events(
    p_prior_counted_at timestamptz,
    p_occurred_at timestamptz[],
    p_kind text[],
    p_watched_seconds integer[],
    p_role text[],
    p_window interval,
    p_slack integer
) returns table (item integer, counts boolean, is_view boolean)
language plpgsql immutable parallel safe as $fold$
declare
    last_counted_at timestamptz := p_prior_counted_at;
begin
    for n in 1 .. coalesce(array_length(p_occurred_at, 1), 0) loop
        if p_role[n] = 'm' then
            last_counted_at := p_occurred_at[n];
        elsif p_role[n] = 'j' then
            item := n;
            counts := {{ counts_after('last_counted_at', 'p_occurred_at[n]', 'p_watched_seconds[n]', 'p_window', 'p_slack') }};
            is_view := counts and {{ is_view('last_counted_at', 'p_occurred_at[n]', 'p_kind[n]', 'p_window') }};
            if counts then
                last_counted_at := p_occurred_at[n];
            end if;
            return next;
        end if;
    end loop;
end
$fold$;
{%- endmacro %}
