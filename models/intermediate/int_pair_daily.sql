{#- The day's events are sorted in memory, by parallel workers where the planner can. -#}
{{ config(
    materialized='day_partition',
    pre_hook="{{ create_fold_watch_events() }}",
    session_settings={
        'work_mem': '2GB', 'hash_mem_multiplier': 4,
        'parallel_setup_cost': 0, 'parallel_tuple_cost': 0.01,
        'enable_mergejoin': 'off'}
) }}
{%- set prior_days = earlier_days_of('int_pair_daily') %}

-- One row per (user, video) pair with events on the run date: what counts of them under the quality
-- gate (SPEC.md, "What does not count"), its views under the view window, what it watched, the slots
-- its playing crossed, and the events turned down (kept whole for int_quarantined_events).
--
-- Whether an event counts depends on the pair's previous *counted* event. One ordered pass judges
-- each event against the pair's previous event of the day that broke no rule on its own. That is exact
-- for every pair but two kinds, both rare: a pair whose first such event of the day does not count
-- once the days before are known (its day is judged again, whole), and a pair with an event turned
-- down for its seconds watched (the events after it may count after all: only the turned-down ones
-- are judged again). Both go through fold_watch_events, one event after the other.
-- (Every event the pass lets count also counts under the exact rule: its real previous counted event
-- can only be earlier, which leaves it more time. With a window of a day or more, only a pair's first
-- counted event of the day can be a view.)

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
),

ordered as (
    select
        day_events.*,
        max(occurred_at) filter (where own_reason is null) over earlier_in_pair as previous_at,
        count(*) filter (where own_reason is null) over earlier_in_pair as ordinal
    from day_events
    window earlier_in_pair as (
        partition by user_id, video_id order by occurred_at, event_id
        rows between unbounded preceding and 1 preceding)
),

judged as (
    select
        ordered.*,
        own_reason is null and previous_at is null as is_first,
        {{ crosses_a_slot('position_seconds', 'watched_seconds') }} as crosses_a_slot,
        coalesce(own_reason, case
            when previous_at is not null
                 and not {{ counts_after('previous_at', 'occurred_at', 'watched_seconds') }}
                then 'implausible_watch'
        end) as reason
    from ordered
),

pairs as (
    select
        user_id,
        video_id,
        min(occurred_at) as first_event_at,
        -- the pair's first event of the day that broke no rule on its own: judged below, with the days before
        min(occurred_at) filter (where is_first) as first_at,
        min(kind) filter (where is_first) as first_kind,
        min(watched_seconds) filter (where is_first) as first_watched,
        count(*) filter (where reason is null) as events,
        coalesce(sum(watched_seconds) filter (where reason is null), 0) as watched_seconds,
        max(occurred_at) filter (where reason is null) as last_counted_at,
        count(*) filter (where reason is not null and own_reason is null) as sequence_rejections,
        jsonb_agg(jsonb_build_object(
            'reason', reason, 'event', {{ watch_event_raw_row('judged') }},
            'sequence', own_reason is null, 'ordinal', ordinal, 'previous_at', previous_at
        )) filter (where reason is not null) as rejected,
        array_agg(occurred_at) filter (where reason is null and crosses_a_slot) as crossed_at,
        array_agg({{ slots_crossed('position_seconds', 'watched_seconds') }})
            filter (where reason is null and crosses_a_slot) as crossed_slots
    from judged
    group by user_id, video_id
),

-- The pair's last counted event before the run date, within the view window's reach.
prior as (
    {%- if prior_days is not none %}
    select user_id, video_id, max(last_counted_at) as prior_at
    from {{ prior_days }}
    where settled_on >= {{ run_date() }} - {{ view_window_days() }}
      and settled_on < {{ run_date() }}
      and last_counted_at > {{ day_start(0) }} - {{ view_window() }}
    group by user_id, video_id
    {%- else %}
    select null::bigint as user_id, null::bigint as video_id, null::timestamptz as prior_at
    where false
    {%- endif %}
),

resolved as (
    select
        pairs.*,
        prior.prior_at,
        {{ counts_after('prior.prior_at', 'pairs.first_at', 'pairs.first_watched') }} as first_counts
    from pairs
    left join prior on prior.user_id = pairs.user_id and prior.video_id = pairs.video_id
),

-- The events turned down for their seconds watched, of pairs whose first event counts. A run of them
-- starts after a counted event (a marker at previous_at) and each is judged against what counted last.
turned_down as (
    select
        resolved.user_id,
        resolved.video_id,
        (rejected.value ->> 'ordinal')::bigint as ordinal,
        (rejected.value ->> 'previous_at')::timestamptz as previous_at,
        rejected.value -> 'event' as event
    from resolved
    cross join lateral jsonb_array_elements(resolved.rejected) as rejected
    where resolved.first_counts
      and resolved.sequence_rejections > 0
      and (rejected.value ->> 'sequence')::boolean
),

-- The whole day again of pairs whose first event does not count, but for what breaks a rule on its own.
refolded as (
    select
        events.user_id,
        events.video_id,
        row_number() over (partition by events.user_id, events.video_id order by events.occurred_at, events.event_id) - 1 as ordinal,
        {{ watch_event_raw_row('events') }} as event
    from {{ ref('stg_platform__watch_events') }} as events
    join resolved
        on resolved.user_id = events.user_id and resolved.video_id = events.video_id and not resolved.first_counts
    left join {{ ref('stg_platform__videos') }} as videos on videos.video_id = events.video_id
    where {{ on_run_day('events.occurred_at') }}
      and {{ watch_event_reason('events', 'videos') }} is null
      -- (the day is read again only when such a pair exists)
      and exists (select 1 from resolved where not resolved.first_counts)
),

fold_items as (
    select user_id, video_id, ordinal, false as is_marker, event
    from turned_down
    union all
    select user_id, video_id, ordinal, true as is_marker, jsonb_build_object('occurred_at', previous_at)
    from (
        select turned_down.*, lag(ordinal) over (partition by user_id, video_id order by ordinal) as previous_ordinal
        from turned_down
    ) as runs
    where previous_ordinal is distinct from ordinal - 1
    union all
    select user_id, video_id, ordinal, false as is_marker, event
    from refolded
),

numbered_items as (
    select
        fold_items.*,
        (event ->> 'occurred_at')::timestamptz as occurred_at,
        row_number() over (partition by user_id, video_id order by ordinal, is_marker desc)::integer as item
    from fold_items
),

verdicts as (
    select numbered_items.*, verdict.counts, verdict.is_view
    from (
        select
            numbered_items.user_id,
            numbered_items.video_id,
            min(resolved.prior_at) filter (where not resolved.first_counts) as prior_counted_at,
            array_agg(numbered_items.occurred_at order by item) as occurred_at,
            array_agg(event ->> 'kind' order by item) as kind,
            array_agg((event ->> 'watched_seconds')::integer order by item) as watched_seconds,
            array_agg(is_marker order by item) as is_marker
        from numbered_items
        join resolved on resolved.user_id = numbered_items.user_id and resolved.video_id = numbered_items.video_id
        group by numbered_items.user_id, numbered_items.video_id
    ) as pair_items
    cross join lateral {{ this.schema }}.fold_watch_events(
        pair_items.prior_counted_at, pair_items.occurred_at, pair_items.kind, pair_items.watched_seconds,
        pair_items.is_marker, {{ view_window() }}, {{ quality_slack_seconds() }}
    ) as verdict
    join numbered_items
        on numbered_items.user_id = pair_items.user_id
       and numbered_items.video_id = pair_items.video_id
       and numbered_items.item = verdict.item
),

folded as (
    select
        user_id,
        video_id,
        count(*) filter (where counts) as events,
        count(*) filter (where is_view) as views,
        coalesce(sum((event ->> 'watched_seconds')::bigint) filter (where counts), 0) as watched_seconds,
        max(occurred_at) filter (where counts) as last_counted_at,
        jsonb_agg(jsonb_build_object('reason', 'implausible_watch', 'event', event, 'sequence', true))
            filter (where not counts) as rejected,
        array_agg(occurred_at) filter (where counts and crosses_a_slot) as crossed_at,
        array_agg({{ slots_crossed('position_seconds', 'watched_seconds') }}) filter (where counts and crosses_a_slot) as crossed_slots
    from (
        select
            verdicts.*,
            position_seconds,
            watched_seconds,
            {{ crosses_a_slot('position_seconds', 'watched_seconds') }} as crosses_a_slot
        from verdicts
        cross join lateral (
            select (event ->> 'position_seconds')::integer as position_seconds,
                   (event ->> 'watched_seconds')::integer as watched_seconds
        ) as claimed
    ) as judged_items
    group by user_id, video_id
)

select
    {{ run_date() }} as settled_on,
    resolved.user_id,
    resolved.video_id,
    resolved.first_event_at,
    -- A refolded pair keeps nothing of the ordered pass's count (folded has it all); any other keeps it
    -- and adds what the fold let count.
    case when resolved.first_counts is false then folded.last_counted_at
         else greatest(resolved.last_counted_at, folded.last_counted_at) end as last_counted_at,
    (case when resolved.first_counts and {{ is_view('resolved.prior_at', 'resolved.first_at', 'resolved.first_kind') }}
          then 1 else 0 end + coalesce(folded.views, 0))::bigint as views,
    (case when resolved.first_counts is false then 0 else resolved.watched_seconds end
        + coalesce(folded.watched_seconds, 0))::bigint as watched_seconds,
    (case when resolved.first_counts is false then 0 else resolved.events end + coalesce(folded.events, 0))::bigint as events,
    jsonb_array_length(rejected.events)::bigint as rejected_events,
    nullif(rejected.events, '[]'::jsonb) as rejected,
    case when resolved.first_counts is false then folded.crossed_at
         else resolved.crossed_at || folded.crossed_at end as crossed_at,
    case when resolved.first_counts is false then folded.crossed_slots
         else resolved.crossed_slots || folded.crossed_slots end as crossed_slots
from resolved
left join folded on folded.user_id = resolved.user_id and folded.video_id = resolved.video_id
cross join lateral (
    select case
        when folded.user_id is null then coalesce(resolved.rejected, '[]')
        -- what broke a rule on its own, and what the fold turned down
        else coalesce(jsonb_path_query_array(resolved.rejected, '$[*] ? (@.sequence == false)'), '[]')
             || coalesce(folded.rejected, '[]')
    end as events
) as rejected
