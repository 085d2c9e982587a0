{#- Step 1 of pair_pass, judge: each event of the shard's day under its own rules (quality_rules.sql), then
    the pair's credit marks as if every event that passes them counted. Gives `pairs`: one row per
    (user, video) with what the credit-at-once test of pair_pass needs and the events turned down on their own. -#}
{% macro pair_pass_judge(in_shard) -%}
day_events as (
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

-- the events that pass their own rules, in the pair's time order, as if each one counted
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
)
{%- endmacro %}
