{#-
    The run date's watch events in (user, video, time) order, each with:
    - previous_at: the pair's previous event, of the same day or (through the pair summaries of the
      days before) an earlier one, within reach of the view window;
    - is_view: a START whose pair had no event in the view window before it;
    - reason: the first quality rule it breaks (null when it counts).
    One sort serves the view window, the quality gate and the per-pair sums (int_pair_daily).
    Duplicates never get here: each day partition's unique event_id index turns them away on arrival.
-#}
{% macro judged_watch_events() -%}
    {%- set pair_days = earlier_days_of('int_pair_daily') -%}
    (
    with timeline as (
        select
            events.event_id,
            events.kind,
            events.user_id,
            events.video_id,
            events.occurred_at,
            events.position_seconds,
            events.watched_seconds,
            events.received_at,
            videos.status as video_status
        from {{ ref('stg_platform__watch_events') }} as events
        left join {{ ref('stg_platform__videos') }} as videos on videos.video_id = events.video_id
        where {{ on_run_day('events.occurred_at') }}
        {%- if pair_days is not none %}
        union all
        -- The pair's last event of each earlier day within the window's reach, as a bare time.
        select null, null, user_id, video_id, last_event_at, null, null, null, null
        from {{ pair_days }}
        where settled_on >= {{ run_date() }} - {{ view_window_days() }}
          and settled_on < {{ run_date() }}
          and last_event_at > {{ day_start(0) }} - {{ view_window() }}
        {%- endif %}
    ),

    sequenced as (
        select
            timeline.*,
            lag(timeline.occurred_at) over (
                partition by timeline.user_id, timeline.video_id
                order by timeline.occurred_at, timeline.event_id nulls first
            ) as previous_at
        from timeline
    )

    -- (No join after the window: a join there would cost another pass over every event.)
    select
        sequenced.*,
        sequenced.kind = 'START'
            and (sequenced.previous_at is null
                 or sequenced.previous_at <= sequenced.occurred_at - {{ view_window() }}) as is_view,
        case
            when sequenced.video_status is null then 'unknown_video'
            when sequenced.video_status <> 'ACTIVE' then 'inactive_video'
            when sequenced.occurred_at > sequenced.received_at + {{ clock_skew() }} then 'future_timestamp'
            when sequenced.watched_seconds < 0 then 'negative_watched_seconds'
            -- With no event within the window's reach, the reach's start stands in for the previous one.
            when sequenced.watched_seconds > {{ var('watched_slack_seconds') | int }} + extract(epoch from
                    sequenced.occurred_at - coalesce(sequenced.previous_at, {{ day_start(0) }} - {{ view_window() }}))
                then 'watched_more_than_elapsed'
        end as reason
    from sequenced
    where sequenced.event_id is not null
    )
{%- endmacro %}
