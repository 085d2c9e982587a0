{{ config(materialized='day_partition', publish=true) }}

-- What came in on the run date and what became of it: every ingested event (each copy of it that
-- arrived, duplicates included) is either counted or quarantined (the data test on this model checks
-- that nothing is lost or counted twice).
{% set sources = {
    'watch_events': {
        'raw': ref('stg_platform__watch_events'),
        'counted': "select coalesce(sum(events), 0) from " ~ pair_days() ~ " as pairs where settled_on = " ~ run_date()},
    'ad_impressions': {
        'raw': ref('stg_platform__ad_impressions'),
        'counted': "select count(*) from " ~ ref('int_ad_impressions_daily') ~ " where settled_on = " ~ run_date() ~ " and reason is null"},
} %}

{%- for source, parts in sources.items() %}
select
    {{ run_date() }} as settled_on,
    '{{ source }}'::text as source,
    (
        select count(*) from {{ parts.raw }}
        where {{ on_run_day('occurred_at') }}
    )::bigint
    + (
        select count(*) from {{ ref('stg_platform__duplicate_events') }}
        where source = '{{ source }}' and {{ on_run_day('occurred_at') }}
    )::bigint as ingested,
    ({{ parts.counted }})::bigint as counted,
    (
        select count(*) from {{ staged(ref('fct_quarantined_events')) }}
        where settled_on = {{ run_date() }} and source = '{{ source }}'
    )::bigint as quarantined,
    coalesce((select jsonb_object_agg(reason, events) from (
        select
            reason,
            count(*) as events
        from {{ staged(ref('fct_quarantined_events')) }}
        where settled_on = {{ run_date() }} and source = '{{ source }}'
        group by reason
    ) as by_reason), '{}'::jsonb) as quarantined_by_reason
{% if not loop.last %}union all{% endif %}
{%- endfor %}
