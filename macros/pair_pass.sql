{#-
    pair_pass(shard, shards): the day's ordered pass over the watch events of the users of one shard
    (user_id % shards = shard), one row per (user, video) pair: what of its events counts under the
    quality gate (SPEC.md, "What does not count"), its views under the view window, what it watched, the
    pair's state for the next event (its last counted event and what that left of the watch credit), and
    the events turned down, with their reasons (int_watch_events_turned_down lists them one per row).
    The shards are separate models, so dbt's two threads run them at once, one per core.

    It reads as three steps:
    1. judge: each event's own rules (quality_rules.sql), then the watch credit of the day's events that
       pass them, all at once, as if every one of them counted (below);
    2. resolve: against the pair's state before the day (its latest earlier day within the window);
    3. fold: the few pairs for which "every one counts" does not hold are judged again one event after
       the other (fold_watch_events).

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
{%- set prior_days = earlier_days_of(this.identifier) -%}
{%- set in_shard = "user_id % " ~ shards ~ " = " ~ shard -%}

with day_events as (
    select
        events.event_id,
        events.kind,
        events.user_id,
        events.video_id,
        events.occurred_at,
        events.position_seconds,
        events.watched_seconds,
        events.received_at,
        {{ watch_event_reason('events', 'videos') }} as own_reason
    from {{ ref('stg_platform__watch_events') }} as events
    left join {{ ref('stg_platform__videos') }} as videos on videos.video_id = events.video_id
    where {{ on_run_day('events.occurred_at') }}
      and events.{{ in_shard }}
),

-- 1. judge: the events that pass their own rules, in the pair's time order, as if each one counted
in_order as (
    select
        day_events.*,
        occurred_at - make_interval(secs => sum(watched_seconds) filter (where own_reason is null) over (
            partition by user_id, video_id order by occurred_at, event_id rows between unbounded preceding and current row
        )) as credit_mark
    from day_events
),

marked as (
    select
        in_order.*,
        max(occurred_at) filter (where own_reason is null) over before_this as previous_at,
        max(credit_mark) filter (where own_reason is null) over before_this as highest_mark_before
    from in_order
    window before_this as (partition by user_id, video_id order by occurred_at, event_id
                           rows between unbounded preceding and 1 preceding)
),

pairs as (
    select
        user_id,
        video_id,
        min(occurred_at) as first_event_at,
        count(*) filter (where own_reason is null) as candidates,
        min(occurred_at) filter (where own_reason is null) as first_at,
        bool_or(kind = 'START') filter (where own_reason is null and previous_at is null) as starts_with_start,
        max(occurred_at) filter (where own_reason is null) as last_at,
        coalesce(sum(watched_seconds) filter (where own_reason is null), 0) as watched_seconds,
        min(credit_mark) filter (where own_reason is null) as lowest_mark,
        max(credit_mark) filter (where own_reason is null) as highest_mark,
        coalesce(bool_and(credit_mark + {{ quality_slack() }} >= highest_mark_before)
                 filter (where own_reason is null and previous_at is not null), true) as credit_holds_within,
        coalesce(bool_or(occurred_at - previous_at >= {{ view_window() }}) filter (where own_reason is null), false)
            as window_lapses_within,
        jsonb_agg(jsonb_build_object('reason', own_reason, 'event', {{ watch_event_raw_row('marked') }}))
            filter (where own_reason is not null) as turned_down_on_their_own
    from marked
    group by user_id, video_id
),

-- 2. resolve: the pair's last counted event before the run date within the window, and what it left
prior_counted as (
    {%- if prior_days is not none %}
    select distinct on (user_id, video_id) user_id, video_id, last_counted_at as prior_at, credit_left as prior_left
    from {{ prior_days }}
    where settled_on >= {{ run_date() }} - {{ view_window_days() }}
      and settled_on < {{ run_date() }}
      and last_counted_at > {{ day_start(0) }} - {{ view_window() }}
    order by user_id, video_id, last_counted_at desc
    {%- else %}
    select null::bigint as user_id, null::bigint as video_id, null::timestamptz as prior_at, null::interval as prior_left
    where false
    {%- endif %}
),

resolved as (
    select
        opened.*,
        -- every candidate counts: exact as it is (see above)
        opened.candidates = 0 or (opened.credit_holds_within and not opened.window_lapses_within
                                  and opened.lowest_mark + opened.opening_credit >= opened.first_at) as all_count
    from (
        select
            pairs.*,
            prior_counted.prior_at,
            prior_counted.prior_left,
            {{ watch_credit('prior_counted.prior_at', 'prior_counted.prior_left', 'pairs.first_at') }} as opening_credit
        from pairs
        left join prior_counted on prior_counted.user_id = pairs.user_id and prior_counted.video_id = pairs.video_id
    ) as opened
),

-- 3. fold: the pairs whose candidates do not all count, one event after the other
folded_pairs as (
    select user_id, video_id, prior_at, prior_left from resolved where not all_count
),

fold_items as (
    select
        events.user_id,
        events.video_id,
        row_number() over (partition by events.user_id, events.video_id order by events.occurred_at, events.event_id)::integer
            as item,
        {{ watch_event_raw_row('events') }} as event,
        events.occurred_at,
        events.kind,
        events.watched_seconds
    from {{ ref('stg_platform__watch_events') }} as events
    join folded_pairs on folded_pairs.user_id = events.user_id and folded_pairs.video_id = events.video_id
    left join {{ ref('stg_platform__videos') }} as videos on videos.video_id = events.video_id
    where {{ on_run_day('events.occurred_at') }}
      and events.{{ in_shard }}
      and {{ watch_event_reason('events', 'videos') }} is null
      -- (the day is read again only when such a pair exists)
      and exists (select 1 from folded_pairs)
),

verdicts as (
    select fold_items.*, verdict.counts, verdict.is_view, verdict.credit_left
    from (
        select
            fold_items.user_id,
            fold_items.video_id,
            array_agg(fold_items.occurred_at order by item) as occurred_at,
            array_agg(fold_items.kind order by item) as kind,
            array_agg(fold_items.watched_seconds order by item) as watched_seconds
        from fold_items
        group by fold_items.user_id, fold_items.video_id
    ) as pair_items
    join folded_pairs on folded_pairs.user_id = pair_items.user_id and folded_pairs.video_id = pair_items.video_id
    cross join lateral {{ this.schema }}.fold_watch_events(
        folded_pairs.prior_at, folded_pairs.prior_left, pair_items.occurred_at, pair_items.kind,
        pair_items.watched_seconds, {{ view_window() }}, {{ quality_slack() }}
    ) as verdict
    join fold_items
        on fold_items.user_id = pair_items.user_id
       and fold_items.video_id = pair_items.video_id
       and fold_items.item = verdict.item
),

folded as (
    select
        user_id,
        video_id,
        count(*) filter (where counts) as events,
        count(*) filter (where is_view) as views,
        coalesce(sum(watched_seconds) filter (where counts), 0) as watched_seconds,
        max(occurred_at) filter (where counts) as last_counted_at,
        (array_agg(credit_left order by item desc) filter (where counts))[1] as credit_left,
        jsonb_agg(jsonb_build_object('reason', 'implausible_watch', 'event', event)) filter (where not counts)
            as turned_down_for_credit
    from verdicts
    group by user_id, video_id
),

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
