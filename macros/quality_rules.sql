{#-
    The quality gate's rules (SPEC.md, "What does not count"), one macro each, so that the ordered pass
    (pair_pass), its fold of the rare pairs that need one (fold_watch_events), and the ad impressions
    (int_ad_impressions_daily) apply the very same expressions.
-#}

{#- The slack allowed on every client-reported duration (watched seconds, an impression's time). -#}
{% macro quality_slack_seconds() -%}
    {{ var('watched_slack_seconds') | int }}
{%- endmacro %}

{% macro quality_slack() -%}
    make_interval(secs => {{ quality_slack_seconds() }})
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

{#- A seller's own event on one of their videos earns nothing (for watch events and impressions alike). -#}
{% macro self_view_branch(event, video) -%}
    when {{ event }}.user_id = {{ video }}.seller_id then 'self_view'
{%- endmacro %}

{#- The first rule a watch event breaks on its own (null when none): the above, values no client could
    honestly send (seconds watched or a position that are negative or beyond the whole video), or a
    seller watching their own video. Whether it fits the pair's watch credit is judged in order. -#}
{% macro watch_event_reason(event, video) -%}
    case
        {{ event_reason_branches(event, video) }}
        when {{ event }}.watched_seconds < 0 or {{ event }}.watched_seconds > {{ video }}.duration_seconds
          or {{ event }}.position_seconds < 0 or {{ event }}.position_seconds > {{ video }}.duration_seconds
            then 'implausible_watch'
        {{ self_view_branch(event, video) }}
    end
{%- endmacro %}

{#-
    The watch credit (SPEC, implausible_watch), one event after the other: a pair's credit at an event is
    the slack when its last counted event is not within the view window before it; else what that event
    left unused (never more than the slack) plus the time elapsed since it. An event counts when it claims
    no more seconds watched than its credit, and then leaves credit - watched unused; a turned-down event
    spends nothing and changes nothing. (pair_pass applies the same rule to a whole day at once.)
-#}
{% macro in_window(last_counted_at, occurred_at, window=view_window()) -%}
    coalesce({{ last_counted_at }} > {{ occurred_at }} - {{ window }}, false)
{%- endmacro %}

{% macro watch_credit(last_counted_at, left_unused, occurred_at, window=view_window(), slack=quality_slack()) -%}
    (case when {{ in_window(last_counted_at, occurred_at, window) }}
          then least({{ left_unused }}, {{ slack }}) + ({{ occurred_at }} - {{ last_counted_at }})
          else {{ slack }} end)
{%- endmacro %}

{% macro fits_credit(watched_seconds, credit) -%}
    (make_interval(secs => {{ watched_seconds }}) <= {{ credit }})
{%- endmacro %}

{#- Whether a counted event is a view: a START with no counted event of its pair in the window before it. -#}
{% macro is_view(last_counted_at, occurred_at, kind, window=view_window()) -%}
    ({{ kind }} = 'START' and not {{ in_window(last_counted_at, occurred_at, window) }})
{%- endmacro %}

{#- The slot length, a rule (var ad_slot_seconds: settlement's setting of the same name). Where slots are
    and which a watch event's playing crossed are the database's functions (migration 0062), the ones
    record_playback answers by: slot k plays at ad_slot_starts_at(k, length) = k times it, and the slots
    crossed are ad_slots_crossed(position, watched, length), those k with position - watched < k * length
    <= position (empty for a seek, which plays nothing). In bigint: a value at the limits of its type is
    quarantined, never an overflow that stops the day. A video's slots: ad_slot_count(duration, length)
    (migration 0061), the one the uploads and the daily refresh fill slots with. -#}
{% macro ad_slot_seconds() -%}
    {{ var('ad_slot_seconds') | int }}
{%- endmacro %}

{% macro ad_slots_of(duration_seconds) -%}
    ad_slot_count({{ duration_seconds }}, {{ ad_slot_seconds() }})
{%- endmacro %}

{% macro slots_crossed(position_seconds, watched_seconds) -%}
    ad_slots_crossed({{ position_seconds }}::bigint, {{ watched_seconds }}::bigint, {{ ad_slot_seconds() }})
{%- endmacro %}

{% macro crosses_a_slot(position_seconds, watched_seconds) -%}
    (not isempty({{ slots_crossed(position_seconds, watched_seconds) }}))
{%- endmacro %}

{#- The raw row of a watch event, as reported, for the quarantine. -#}
{% macro watch_event_raw_row(event) -%}
    jsonb_build_object(
        'event_id', {{ event }}.event_id, 'kind', {{ event }}.kind, 'user_id', {{ event }}.user_id,
        'video_id', {{ event }}.video_id, 'occurred_at', {{ event }}.occurred_at,
        'position_seconds', {{ event }}.position_seconds, 'watched_seconds', {{ event }}.watched_seconds,
        'received_at', {{ event }}.received_at)
{%- endmacro %}
