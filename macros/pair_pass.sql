{#-
    pair_pass(shard, shards): the day's ordered pass over the watch events of the users of one shard
    (user_id % shards = shard), one row per (user, video) pair: what of its events counts under the
    quality gate (SPEC.md, "What does not count"), its views under the view window, what it watched, the
    pair's state for the next event (its last counted event and what that left of the watch credit), and
    the events turned down, with their reasons (int_watch_events_turned_down lists them one per row).
    The shards are separate models, so dbt's two threads run them at once, one per core.

    It reads as three steps, a macro each (macros/pair_pass/):
    1. judge (pair_pass_judge): each event's own rules (quality_rules.sql), then the watch credit of the
       day's events that pass them, all at once, as if every one of them counted (below);
    2. resolve (pair_pass_resolve): against the pair's state before the day (its latest earlier day
       within the window);
    3. fold (pair_pass_fold): the few pairs for which "every one counts" does not hold are judged again
       one event after the other (fold_watch_events).
    What each pair settles at is then the first two steps' (every one counts) or the fold's.

    The credit at once. Number the pair's events that break no rule on their own 1..n in time order, t_i
    their times, w_i their seconds watched, and R_i = t_i - (w_1 + ... + w_i). If every one counts, the
    credit left after event i is u_i = min(slack, u_(i-1) + (t_i - t_(i-1)) - w_i), with the day's opening
    credit C at event 1 (the slack, or what the earlier day left plus the time since); so
        u_i = min(C + R_i - t_1, slack + R_i - max(R_1 .. R_i)),
    and event i fits its credit exactly when R_i + slack >= max(R_1 .. R_(i-1)) (i > 1) and
    R_i + C >= t_1. The first condition needs only the day (a running maximum), the second only the
    lowest R_i and the pair's state before the day. A day where both hold for every event, and no two
    events are a view window apart, is exact as it is; any other is folded.
-#}
{% macro pair_pass(shard, shards) %}
{%- set in_shard = "user_id % " ~ shards ~ " = " ~ shard -%}

with {{ pair_pass_judge(in_shard) }},

{{ pair_pass_resolve() }},

{{ pair_pass_fold(in_shard) }},

settled as (
    select
        resolved.user_id,
        resolved.video_id,
        resolved.first_event_at,
        case when resolved.all_count then resolved.last_at else folded.last_counted_at end as last_counted_at,
        case when resolved.all_count and resolved.candidates > 0 then
            -- u_n, with R_n = last_at - watched_seconds
            least(
                resolved.last_at - make_interval(secs => resolved.watched_seconds) - resolved.first_at + resolved.opening_credit,
                resolved.last_at - make_interval(secs => resolved.watched_seconds) + {{ quality_slack() }} - resolved.highest_mark)
            else folded.credit_left end as credit_left,
        case when resolved.all_count
             then case when resolved.starts_with_start
                            and {{ is_view('resolved.prior_at', 'resolved.first_at', "'START'") }} then 1 else 0 end
             else coalesce(folded.views, 0) end as views,
        case when resolved.all_count then resolved.watched_seconds else coalesce(folded.watched_seconds, 0) end
            as watched_seconds,
        case when resolved.all_count then resolved.candidates else coalesce(folded.events, 0) end as events,
        coalesce(resolved.turned_down_on_their_own, '[]') || coalesce(folded.turned_down_for_credit, '[]') as turned_down
    from resolved
    left join folded on folded.user_id = resolved.user_id and folded.video_id = resolved.video_id
)

select
    {{ run_date() }} as settled_on,
    user_id,
    video_id,
    first_event_at,
    last_counted_at,
    credit_left,
    views::bigint as views,
    watched_seconds::bigint as watched_seconds,
    events::bigint as events,
    jsonb_array_length(turned_down)::bigint as turned_down_events,
    nullif(turned_down, '[]'::jsonb) as turned_down
from settled
{% endmacro %}

{#- What the pass's plan needs, for its model only: the shard's day sorted and hashed in memory, and no
    parallel workers (the two shards are the parallelism, one per core: a shard's own workers only add
    a Gather Merge of every row; 1M-event day, one shard alone: 2.0 s without them, 3.0 s with). -#}
{% macro pair_pass_settings() %}
    {{ return({'work_mem': '2GB', 'hash_mem_multiplier': 4, 'max_parallel_workers_per_gather': 0}) }}
{% endmacro %}

{#- The day's pairs of both shards (what the view int_pair_daily shows), read by the models after the
    pass without waiting on the view's own node. -#}
{% macro pair_days() -%}
    (select * from {{ ref('int_pair_daily_shard_0') }} union all select * from {{ ref('int_pair_daily_shard_1') }})
{%- endmacro %}
