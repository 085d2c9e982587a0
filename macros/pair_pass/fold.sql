{#- Step 3 of pair_pass, fold: the few `resolved` pairs whose candidates do not all count, judged again one
    event after the other (fold_watch_events). Gives `folded`: those pairs' counts, views, watch, state
    for the next day and the events turned down for their credit. -#}
{% macro pair_pass_fold(in_shard) -%}
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
)
{%- endmacro %}
