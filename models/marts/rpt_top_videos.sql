{{ config(
    materialized='period_slice',
    publish=true,
    indexes=[{'columns': ['period', 'period_start', 'scope', 'metric']}]
) }}

-- Top 5 videos by views and by watch time, platform-wide and per seller, for the day, ISO week and
-- month containing the run date. Ties go to the lower video id.
{% set metrics = {'views': 'views', 'watch_time': 'watch_seconds'} %}
{% set scopes = {'platform': 'null::bigint', 'seller': 'seller_id'} %}

with periods as (
    select *
    from {{ run_periods_as_published(ref('fct_video_payouts'), keys=['video_id']) }} as periods
    where {{ is_run_date_period() }}
),

ranked as (
    {%- for scope, scope_key in scopes.items() %}
    {%- for metric, measure in metrics.items() %}
    select
        period,
        period_start,
        '{{ scope }}'::text as scope,
        {{ scope_key }} as seller_id,
        '{{ metric }}'::text as metric,
        row_number() over (
            partition by period, period_start{% if scope == 'seller' %}, seller_id{% endif %}
            order by {{ measure }} desc, video_id
        )::integer as rank,
        video_id,
        views,
        watch_seconds
    from periods
    where {{ measure }} > 0
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select *
from ranked
where rank <= 5
