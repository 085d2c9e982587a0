{#- The run's platform day and its bounds. -#}

{#- The day a run settles, as YYYY-MM-DD: var run_date, else yesterday in the platform's time zone as of
    the invocation's start (one day for the whole run, even one that passes midnight), on the platform's
    clock (settlement/clock.py: the real time shifted by SETTLEMENT_CLOCK_SHIFT_SECONDS). -#}
{% macro settlement_run_date() -%}
    {%- set day = var('run_date', none) -%}
    {%- if day is none and execute -%}
        {#- `settlement run` names its day here; read only when dbt executes, so parsing does not depend on it -#}
        {%- set day = env_var('SETTLEMENT_RUN_DATE', '') or none -%}
    {%- endif -%}
    {%- if day is none -%}
        {%- set shift = modules.datetime.timedelta(seconds=env_var('SETTLEMENT_CLOCK_SHIFT_SECONDS', '0') | float) -%}
        {%- set started = modules.pytz.utc.localize(run_started_at.replace(tzinfo=none)) + shift -%}
        {%- set now = started.astimezone(modules.pytz.timezone(var('time_zone'))) -%}
        {%- set day = (now - modules.datetime.timedelta(days=1)).date().isoformat() -%}
    {%- endif -%}
    {{ return(day | string) }}
{%- endmacro %}

{% macro run_date() -%}
    '{{ settlement_run_date() }}'::date
{%- endmacro %}

{#- The instant a platform day starts, offset_days after the run date. -#}
{% macro day_start(offset_days=0) -%}
    (({{ run_date() }} + {{ offset_days }})::timestamp at time zone '{{ var("time_zone") }}')
{%- endmacro %}

{#- A predicate on a timestamptz column: it falls on the run's platform day (prunes to one partition). -#}
{% macro on_run_day(column) -%}
    ({{ column }} >= {{ day_start(0) }} and {{ column }} < {{ day_start(1) }})
{%- endmacro %}

{#- The view window as an interval. -#}
{% macro view_window() -%}
    make_interval(hours => {{ var("view_window_hours") | int }})
{%- endmacro %}

{#- How many whole days before the run date the view window can reach back into. -#}
{% macro view_window_days() -%}
    {{ ((var("view_window_hours") | int) + 23) // 24 }}
{%- endmacro %}

{#- The first day of the day / ISO week / month period containing day. -#}
{% macro period_start(period, day) -%}
    {%- if period == 'day' -%} ({{ day }})::date
    {%- elif period == 'week' -%} date_trunc('week', {{ day }})::date
    {%- elif period == 'month' -%} date_trunc('month', {{ day }})::date
    {%- else -%} {{ exceptions.raise_compiler_error("unknown period " ~ period) }}
    {%- endif -%}
{%- endmacro %}

{% macro period_end(period, day) -%}
    ({{ period_start(period, day) }} + interval '1 {{ period }}')::date
{%- endmacro %}

{#- A predicate: (period, period_start) is the day, ISO week or month containing the run date. -#}
{% macro is_run_date_period(period_column='period', start_column='period_start') -%}
    (
    {%- for period in ['day', 'week', 'month'] %}
        ({{ period_column }} = '{{ period }}' and {{ start_column }} = {{ period_start(period, run_date()) }})
        {%- if not loop.last %} or{% endif %}
    {%- endfor %}
    )
{%- endmacro %}

{#- How far after its arrival an event may claim to have happened (clients' clocks drift). -#}
{% macro clock_skew() -%}
    make_interval(secs => {{ var("clock_skew_seconds") | int }})
{%- endmacro %}
