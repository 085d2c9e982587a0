{#-
    The quality gate's rules (SPEC.md, "What does not count"), one macro each, so that the ordered pass
    (int_pair_daily), its fold of the rare pairs that need one (fold_watch_events) and the ad impressions
    (int_ad_impressions_daily) apply the very same expressions.
-#}

{#- The slack allowed on every client-reported duration (watched seconds, an impression's time). -#}
{% macro quality_slack_seconds() -%}
    {{ var('watched_slack_seconds') | int }}
{%- endmacro %}

{#- `when ... then <reason>` branches for what an event breaks on its own, whatever its kind: the
    video is unknown, the event is outside the time it was live, or it claims a time after its arrival. -#}
{% macro event_reason_branches(event, video) -%}
    when {{ video }}.video_id is null then 'unknown_video'
    when not coalesce(
            {{ video }}.live_from <= {{ event }}.occurred_at
            and ({{ video }}.live_until is null or {{ event }}.occurred_at < {{ video }}.live_until)
            and ({{ video }}.live_period_count = 1 or {{ video }}.live_periods @> {{ event }}.occurred_at),
            false) then 'video_not_live'
    when {{ event }}.occurred_at > {{ event }}.received_at + {{ clock_skew() }} then 'future_timestamp'
{%- endmacro %}

{#- The first rule a watch event breaks on its own (null when none): the above, or seconds watched that
    are negative or more than the whole video. -#}
{% macro watch_event_reason(event, video) -%}
    case
        {{ event_reason_branches(event, video) }}
        when {{ event }}.watched_seconds < 0 or {{ event }}.watched_seconds > {{ video }}.duration_seconds
            then 'implausible_watch'
    end
{%- endmacro %}

{#- Whether an event that breaks no rule on its own counts, given the pair's previous counted event
    (null when none): within the view window before it, it may claim no more seconds watched than
    elapsed since then plus the slack; with none there (the pair's first event in the window), no more
    than the slack (a START claims nothing: it begins a session). -#}
{% macro counts_after(previous_counted_at, occurred_at, watched_seconds, window=view_window(), slack=quality_slack_seconds()) -%}
    (case
        when {{ previous_counted_at }} > {{ occurred_at }} - {{ window }}
            {# exact, and no numeric arithmetic per event: elapsed >= watched - slack #}
            then {{ occurred_at }} - {{ previous_counted_at }} >= make_interval(secs => {{ watched_seconds }} - {{ slack }})
        else {{ watched_seconds }} <= {{ slack }}
    end)
{%- endmacro %}

{#- Whether a counted event is a view: a START with no counted event of its pair in the window before it. -#}
{% macro is_view(previous_counted_at, occurred_at, kind, window=view_window()) -%}
    ({{ kind }} = 'START' and ({{ previous_counted_at }} is null or {{ previous_counted_at }} <= {{ occurred_at }} - {{ window }}))
{%- endmacro %}

{#- The ad slots k a watch event's playing moved the playhead across (position - watched < k * interval
    <= position): first and last k; none when the first is after the last (a seek plays nothing). -#}
{% macro slots_crossed(position_seconds, watched_seconds) -%}
    int4range({{ first_slot_crossed(position_seconds, watched_seconds) }}, {{ last_slot_crossed(position_seconds) }}, '[]')
{%- endmacro %}

{% macro crosses_a_slot(position_seconds, watched_seconds) -%}
    ({{ last_slot_crossed(position_seconds) }} >= {{ first_slot_crossed(position_seconds, watched_seconds) }})
{%- endmacro %}

{% macro first_slot_crossed(position_seconds, watched_seconds) -%}
    (greatest({{ position_seconds }} - {{ watched_seconds }}, 0) / {{ var('ad_slot_seconds') | int }} + 1)
{%- endmacro %}

{% macro last_slot_crossed(position_seconds) -%}
    ({{ position_seconds }} / {{ var('ad_slot_seconds') | int }})
{%- endmacro %}

{#- The raw row of a watch event, as reported, for the quarantine. -#}
{% macro watch_event_raw_row(event) -%}
    jsonb_build_object(
        'event_id', {{ event }}.event_id, 'kind', {{ event }}.kind, 'user_id', {{ event }}.user_id,
        'video_id', {{ event }}.video_id, 'occurred_at', {{ event }}.occurred_at,
        'position_seconds', {{ event }}.position_seconds, 'watched_seconds', {{ event }}.watched_seconds,
        'received_at', {{ event }}.received_at)
{%- endmacro %}
