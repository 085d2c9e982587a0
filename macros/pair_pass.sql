{#-
    pair_pass(shard, shards): the day's ordered pass over the watch events of the users of one shard
    (user_id % shards = shard), one row per (user, video) pair: what of its events counts under the
    quality gate (SPEC.md, "What does not count"), its views under the view window, what it watched,
    and the events turned down (kept whole for the quarantine: every event of the pair not listed
    there counted, which is how int_ad_impressions_daily finds the counted events that crossed a slot).
    The shards are separate models, so dbt's two threads run them at once, one per core.

    Whether an event counts depends on the pair's previous *counted* event. The pass judges each event
    against the pair's previous event of the day, of any kind (lag): an event it lets count also counts
    under the exact rule, whose previous counted event can only be earlier, which leaves it more time.
    It is exact for every pair but two kinds, both rare:
    - a pair with an event turned down (for its seconds, or on its own) before another turned down for
      its seconds: the turned-down events are judged again, one after the other, from the last counted
      event before each run of them (fold_watch_events, items: marker / skip / judge);
    - a pair whose first event of the day breaks a rule on its own, or does not count once the days
      before are known: its whole day is read again and judged event by event.
    With a window of a day or more, only a pair's first counted event of the day can be a view.
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

ordered as (
    select
        day_events.*,
        lag(occurred_at) over pair_in_time as previous_at,
        row_number() over pair_in_time - 1 as ordinal
    from day_events
    window pair_in_time as (partition by user_id, video_id order by occurred_at, event_id)
),

judged as (
    select
        ordered.*,
        coalesce(own_reason, case
            when ordinal > 0 and not {{ counts_after('previous_at', 'occurred_at', 'watched_seconds') }}
                then 'implausible_watch'
        end) as reason
    from ordered
),

pairs as (
    select
        user_id,
        video_id,
        -- the pair's first event of the day: judged below, with the days before
        min(occurred_at) filter (where ordinal = 0) as first_at,
        min(kind) filter (where ordinal = 0) as first_kind,
        min(watched_seconds) filter (where ordinal = 0) as first_watched,
        bool_or(own_reason is not null) filter (where ordinal = 0) as first_breaks_a_rule,
        count(*) filter (where reason is null) as events,
        coalesce(sum(watched_seconds) filter (where reason is null), 0) as watched_seconds,
        max(occurred_at) filter (where reason is null) as last_counted_at,
        count(*) filter (where reason is not null and own_reason is null) as sequence_rejections,
        jsonb_agg(jsonb_build_object(
            'reason', reason, 'event', {{ watch_event_raw_row('judged') }},
            'own', own_reason is not null, 'ordinal', ordinal, 'previous_at', previous_at
        )) filter (where reason is not null) as rejected
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
        not pairs.first_breaks_a_rule
            and {{ counts_after('prior.prior_at', 'pairs.first_at', 'pairs.first_watched') }} as first_counts
    from pairs
    left join prior on prior.user_id = pairs.user_id and prior.video_id = pairs.video_id
),

-- The rare pairs the pass cannot settle alone. refold: the whole day again (the first event breaks a
-- rule on its own while another does not, or does not count); chains: only the turned-down events.
flagged as (
    select user_id, video_id, prior_at, refold
    from (
        select
            resolved.*,
            not first_counts and (not first_breaks_a_rule or events + sequence_rejections > 0) as refold
        from resolved
    ) as pairs
    where refold or sequence_rejections > 0
),

chain_items as (
    select
        flagged.user_id,
        flagged.video_id,
        (rejected.value ->> 'ordinal')::bigint as ordinal,
        (rejected.value ->> 'previous_at')::timestamptz as previous_at,
        case when (rejected.value ->> 'own')::boolean then 's' else 'j' end as role,
        rejected.value -> 'event' as event
    from flagged
    join resolved on resolved.user_id = flagged.user_id and resolved.video_id = flagged.video_id
    cross join lateral jsonb_array_elements(resolved.rejected) as rejected
    where not flagged.refold
),

refold_items as (
    select
        events.user_id,
        events.video_id,
        row_number() over (partition by events.user_id, events.video_id order by events.occurred_at, events.event_id) - 1 as ordinal,
        null::timestamptz as previous_at,
        case when {{ watch_event_reason('events', 'videos') }} is null then 'j' else 's' end as role,
        {{ watch_event_raw_row('events') }} as event
    from {{ ref('stg_platform__watch_events') }} as events
    join flagged on flagged.user_id = events.user_id and flagged.video_id = events.video_id and flagged.refold
    left join {{ ref('stg_platform__videos') }} as videos on videos.video_id = events.video_id
    where {{ on_run_day('events.occurred_at') }}
      and events.{{ in_shard }}
      -- (the day is read again only when such a pair exists)
      and exists (select 1 from flagged where flagged.refold)
),

fold_items as (
    select user_id, video_id, ordinal, role, event from chain_items
    union all
    -- before a run of turned-down events, the counted event that precedes it
    select user_id, video_id, ordinal, 'm', jsonb_build_object('occurred_at', previous_at)
    from (
        select chain_items.*, lag(ordinal) over (partition by user_id, video_id order by ordinal) as previous_ordinal
        from chain_items
    ) as runs
    where previous_ordinal is distinct from ordinal - 1
    union all
    select user_id, video_id, ordinal, role, event from refold_items
),

numbered_items as (
    select
        fold_items.*,
        (event ->> 'occurred_at')::timestamptz as occurred_at,
        (event ->> 'position_seconds')::integer as position_seconds,
        (event ->> 'watched_seconds')::integer as watched_seconds,
        row_number() over (partition by user_id, video_id order by ordinal, role = 'm' desc)::integer as item
    from fold_items
),

verdicts as (
    select numbered_items.*, verdict.counts, verdict.is_view
    from (
        select
            numbered_items.user_id,
            numbered_items.video_id,
            min(flagged.prior_at) filter (where flagged.refold) as prior_counted_at,
            array_agg(numbered_items.occurred_at order by item) as occurred_at,
            array_agg(event ->> 'kind' order by item) as kind,
            array_agg(numbered_items.watched_seconds order by item) as watched_seconds,
            array_agg(role order by item) as role
        from numbered_items
        join flagged on flagged.user_id = numbered_items.user_id and flagged.video_id = numbered_items.video_id
        group by numbered_items.user_id, numbered_items.video_id
    ) as pair_items
    cross join lateral {{ this.schema }}.fold_watch_events(
        pair_items.prior_counted_at, pair_items.occurred_at, pair_items.kind, pair_items.watched_seconds,
        pair_items.role, {{ view_window() }}, {{ quality_slack_seconds() }}
    ) as verdict
    join numbered_items
        on numbered_items.user_id = pair_items.user_id
       and numbered_items.video_id = pair_items.video_id
       and numbered_items.item = verdict.item
    where numbered_items.role = 'j'
),

folded as (
    select
        user_id,
        video_id,
        count(*) filter (where counts) as events,
        count(*) filter (where is_view) as views,
        coalesce(sum(watched_seconds) filter (where counts), 0) as watched_seconds,
        max(occurred_at) filter (where counts) as last_counted_at,
        jsonb_agg(jsonb_build_object('reason', 'implausible_watch', 'event', event, 'own', false))
            filter (where not counts) as rejected
    from verdicts
    group by user_id, video_id
)

select
    {{ run_date() }} as settled_on,
    resolved.user_id,
    resolved.video_id,
    resolved.first_at as first_event_at,
    -- A refolded pair keeps nothing of the pass's count (folded has it all); any other keeps it and adds
    -- what the fold let count.
    case when flagged.refold then folded.last_counted_at
         else greatest(resolved.last_counted_at, folded.last_counted_at) end as last_counted_at,
    (case when resolved.first_counts and {{ is_view('resolved.prior_at', 'resolved.first_at', 'resolved.first_kind') }}
          then 1 else 0 end + coalesce(folded.views, 0))::bigint as views,
    (case when flagged.refold then 0 else resolved.watched_seconds end + coalesce(folded.watched_seconds, 0))::bigint as watched_seconds,
    (case when flagged.refold then 0 else resolved.events end + coalesce(folded.events, 0))::bigint as events,
    jsonb_array_length(rejected.events)::bigint as rejected_events,
    nullif(rejected.events, '[]'::jsonb) as rejected
from resolved
left join flagged on flagged.user_id = resolved.user_id and flagged.video_id = resolved.video_id
left join folded on folded.user_id = resolved.user_id and folded.video_id = resolved.video_id
cross join lateral (
    select case
        when flagged.user_id is null then coalesce(resolved.rejected, '[]')
        -- what broke a rule on its own, and what the fold turned down
        else coalesce(jsonb_path_query_array(resolved.rejected, '$[*] ? (@.own == true)'), '[]')
             || coalesce(folded.rejected, '[]')
    end as events
) as rejected
{% endmacro %}

{#- The pass sorts each shard's day in memory; merge joins lose to hash joins here (measured). -#}
{% macro pair_pass_settings() %}
    {{ return({'work_mem': '2GB', 'hash_mem_multiplier': 4, 'parallel_setup_cost': 0,
               'parallel_tuple_cost': 0.01, 'enable_mergejoin': 'off'}) }}
{% endmacro %}
